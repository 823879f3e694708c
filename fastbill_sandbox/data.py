"""Deterministic, FastBill-shaped records for the sandbox.

Every record is a pure function of (edition, size, seed, service, index). The exceptions are the
12 time entries of the current month (they exist so that the time.get "current month only" trap
is visible) and records added at runtime, which carry the real date.

To stay cheap at ~500,000 records, a table is built in two steps:

* the *core* of every record (primary key, dates, references: everything a FILTER can test) is
  generated up front from one sequential RNG per table and kept in column lists;
* the full record is built only when a page needs it, from an RNG seeded by the record index,
  and its JSON text is cached (bounded, first in first out).

The data deliberately carries the quirks documented in fastbill-api.md §5: IDs mostly strings and
a few integers, amounts as strings or numbers, "0"/"1" flags, zero dates, free-text delivery
dates, lists that arrive as [], "", {} or index-keyed objects, and German/Austrian text.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

Record = dict[str, Any]

FIXED_START = date(2023, 1, 1)
FIXED_END = date(2026, 10, 31)
TIME_START = date(2025, 1, 1)
CURRENT_MONTH_TIME_ENTRIES = 12
ZERO_DATETIME = "0000-00-00 00:00:00"
ZERO_DATE = "0000-00-00"
# FastBill gives no timezone; Speicher210 treats values as Europe/Berlin, so the sandbox does too.
TIMEZONE = ZoneInfo("Europe/Berlin")

BASE_COUNTS: dict[str, dict[str, int]] = {
    "pro": {
        "customer.get": 120,
        "contact.get": 150,
        "invoice.get": 250,
        "recurring.get": 15,
        "revenue.get": 130,
        "expense.get": 160,
        "article.get": 40,
        "project.get": 25,
        "time.get": 300,
        "estimate.get": 60,
        "template.get": 3,
        "document.get": 40,  # the documents; the folders are fixed (DOCUMENT_FOLDERS)
        "webhook.get": 3,
    },
    "automatic": {
        "customer.get": 120,
        "subscription.get": 110,
        "invoice.get": 250,
        "article.get": 12,
        "coupon.get": 5,
        "template.get": 2,
    },
}

# Connector stream name -> read service (used by tests that compare against the schemas).
STREAM_SERVICES: dict[str, str] = {
    "customers": "customer.get",
    "contacts": "contact.get",
    "invoices": "invoice.get",
    "recurring_invoices": "recurring.get",
    "revenues": "revenue.get",
    "expenses": "expense.get",
    "products": "article.get",
    "projects": "project.get",
    "time_entries": "time.get",
    "estimates": "estimate.get",
    "templates": "template.get",
    "subscriptions": "subscription.get",
    "coupons": "coupon.get",
    "documents": "document.get",
    "document_folders": "document.get",  # the same answers' FOLDERS: see stream_counts
    "webhooks": "webhook.get",
}

# (first id, step): ids grow with the index and leave gaps, like a real account with deletions.
_ID_LAYOUT: dict[str, dict[str, tuple[int, int]]] = {
    "pro": {
        "customer.get": (1552, 3),
        "contact.get": (20011, 2),
        "invoice.get": (56197, 4),
        "recurring.get": (90001, 7),
        "revenue.get": (140003, 3),
        "expense.get": (230017, 3),
        "article.get": (401, 2),
        "project.get": (3101, 5),
        "time.get": (700001, 2),
        "estimate.get": (8801, 3),
        "document.get": (5001, 2),
        "webhook.get": (15, 1),
    },
    "automatic": {
        "customer.get": (296526, 3),
        "subscription.get": (1101, 2),
        "invoice.get": (10280, 4),
    },
}

# ---------------------------------------------------------------------------------------------
# Word pools (German and Austrian business data, with umlauts and ß on purpose)

FIRST_NAMES_M = (
    "Lukas", "Jürgen", "Sören", "Jörg", "Björn", "Maximilian", "Felix", "Jonas", "Uwe",
    "Günther", "Klaus", "Matthias", "Tobias", "Florian", "Stefan", "Andreas", "Dominik", "Fabian",
)  # fmt: skip
FIRST_NAMES_F = (
    "Anna", "Käthe", "Sophie", "Marie", "Lena", "Hannah", "Jana", "Sabine", "Birgit", "Franziska",
    "Katharina", "Annegret", "Doris", "Mia", "Elif", "Zoë", "Lea", "Henriette",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Weiß", "Groß",
    "Köhler", "Jäger", "Möller", "Gruber", "Huber", "Pichler", "Steiner", "Moser", "Strauß",
)  # fmt: skip
ORG_PATTERNS: dict[str, tuple[str, ...]] = {
    "DE": (
        "{last} GmbH", "{last} & {last2} OHG", "{last} Consulting GmbH", "Bäckerei {last}",
        "{city} Medien GmbH", "{last} Software UG (haftungsbeschränkt)", "Praxis Dr. {last}",
        "{last} Elektrotechnik e.K.", "Architekturbüro {last}", "{last} & Söhne KG",
        "{last} Straßenbau AG", "Grün & Partner mbB",
    ),
    "AT": (
        "{last} GesmbH", "{last} & {last2} OG", "Tischlerei {last} e.U.",
        "{city} Kaffeerösterei GmbH",
    ),
    "CH": ("{last} AG", "{last} Treuhand GmbH"),
}  # fmt: skip
CITIES: dict[str, tuple[tuple[str, str, str], ...]] = {  # (city, zip, phone area code)
    "DE": (
        ("Köln", "50667", "221"), ("München", "80331", "89"), ("Berlin", "10115", "30"),
        ("Hamburg", "20095", "40"), ("Düsseldorf", "40213", "211"), ("Nürnberg", "90402", "911"),
        ("Frankfurt am Main", "60311", "69"), ("Saarbrücken", "66111", "681"),
        ("Lübeck", "23552", "451"), ("Münster", "48143", "251"), ("Osnabrück", "49074", "541"),
        ("Göttingen", "37073", "551"), ("Würzburg", "97070", "931"), ("Oldenburg", "26122", "441"),
        ("Essen", "45127", "201"), ("Fürth", "90762", "911"),
    ),
    "AT": (
        ("Wien", "1010", "1"), ("Wien", "1070", "1"), ("Graz", "8010", "316"),
        ("Linz", "4020", "732"), ("Salzburg", "5020", "662"), ("Innsbruck", "6020", "512"),
        ("Klagenfurt am Wörthersee", "9020", "463"),
    ),
    "CH": (("Zürich", "8001", "44"), ("Basel", "4051", "61"), ("St. Gallen", "9000", "71")),
}  # fmt: skip
STREETS: dict[str, tuple[str, ...]] = {
    "DE": (
        "Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Goethestraße", "Lindenallee",
        "Am Mühlbach", "Königsallee", "Gartenweg", "Kirchplatz", "Rosenstraße", "Bergstraße",
    ),
    "AT": ("Mariahilfer Straße", "Landstraßer Hauptstraße", "Herrengasse", "Währinger Straße"),
    # Swiss German does not use ß.
    "CH": ("Bahnhofstrasse", "Seestrasse", "Dufourstrasse"),
}  # fmt: skip
COUNTRY_PREFIX = {"DE": "+49", "AT": "+43", "CH": "+41"}
BANKS = (
    ("Sparkasse KölnBonn", "COLSDE33XXX"), ("Stadtsparkasse München", "SSKMDEMMXXX"),
    ("Volksbank Münsterland Nord eG", "GENODEM1IBB"), ("Deutsche Bank", "DEUTDEFFXXX"),
    ("ING", "INGDDEFFXXX"), ("Erste Bank der österreichischen Sparkassen", "GIBAATWWXXX"),
    ("Raiffeisenlandesbank Oberösterreich", "RZOOAT2LXXX"),
)  # fmt: skip
MONTHS_DE = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip
# (description, unit, min price, max price, vat percent)
SERVICES_CATALOG = (
    ("Beratung (Stunde)", "Std.", 80.0, 150.0, 19.0),
    ("Webdesign Startseite", "Pauschal", 900.0, 2500.0, 19.0),
    ("Wartungsvertrag monatlich", "Monat", 49.0, 299.0, 19.0),
    ("Schulung Grundlagen (Tagessatz)", "Tag", 650.0, 1200.0, 19.0),
    ("Übersetzung Deutsch\u2013Englisch", "Wort", 0.09, 0.18, 19.0),
    ("Fahrtkosten", "km", 0.3, 0.5, 19.0),
    ("Hosting-Paket „Business“", "Monat", 9.9, 49.0, 19.0),
    ("Softwarelizenz Jahresgebühr", "Stück", 120.0, 980.0, 19.0),
    ("Gutachten Straßenbau", "Pauschal", 1500.0, 4800.0, 19.0),
    ("Logo-Größenanpassung", "Stück", 45.0, 120.0, 19.0),
    ("Programmierung Schnittstelle", "Std.", 85.0, 140.0, 19.0),
    ("Projektmanagement", "Std.", 75.0, 120.0, 19.0),
    ("Fachbuch „Buchführung für Einsteiger“", "Stück", 19.9, 49.9, 7.0),
    ("Reisekosten Pauschale Wien", "Pauschal", 150.0, 400.0, 19.0),
    ("Druckkosten Flyer DIN A5", "Stück", 0.08, 0.35, 19.0),
    ("Datenschutz-Audit (DSGVO)", "Pauschal", 800.0, 2400.0, 19.0),
)
EXPENSE_SUPPLIERS = (  # (organization, expense category, street, zip, city, country)
    ("Deutsche Telekom AG", "Telefon", "Friedrich-Ebert-Allee 140", "53113", "Bonn", "DE"),
    ("Büromarkt Böttcher AG", "Bürobedarf", "Mühlenstraße 14", "07745", "Jena", "DE"),
    ("Hetzner Online GmbH", "Hosting", "Industriestraße 25", "91710", "Gunzenhausen", "DE"),
    ("DB Fernverkehr AG", "Reisekosten", "Stephensonstraße 1", "60326", "Frankfurt am Main", "DE"),
    ("Österreichische Bundesbahnen", "Reisekosten", "Am Hauptbahnhof 2", "1100", "Wien", "AT"),
    ("Stadtwerke München GmbH", "Energie", "Emmy-Noether-Straße 2", "80992", "München", "DE"),
    ("Allianz Versicherungs-AG", "Versicherungen", "Königinstraße 28", "80802", "München", "DE"),
    ("Steuerkanzlei Weiß & Partner", "Beratung", "Schillerstraße 12", "50667", "Köln", "DE"),
    ("Café Sacher Wien", "Bewirtung", "Philharmoniker Straße 4", "1010", "Wien", "AT"),
    ("JetBrains s.r.o.", "Software & Hosting", "Na Hřebenech II 1718/10", "14000", "Praha", "CZ"),
    ("Immobilien Groß KG", "Miete", "Königsallee 60", "40212", "Düsseldorf", "DE"),
    ("Volkshochschule Köln", "Fortbildung", "Cäcilienstraße 29", "50667", "Köln", "DE"),
)  # fmt: skip
TASK_NAMES = (
    "Konzeption", "Umsetzung", "Qualitätssicherung", "Abstimmung & Meetings", "Schulung",
    "Dokumentation", "Fehlerbehebung", "Datenübernahme",
)  # fmt: skip
PROJECT_NAMES = (
    "Relaunch Website", "Einführung Warenwirtschaft", "Jahresabschluss-Beratung",
    "Umbau Büroräume", "Online-Shop Erweiterung", "Straßenplanung Ortsumgehung",
    "Übersetzung Produktkatalog", "Marketingkampagne Frühjahr",
)  # fmt: skip
TIME_COMMENTS = (
    "Telefonat mit Frau Müller", "Workshop in Köln", "Code-Review", "Abstimmung Straßenplanung",
    "Überarbeitung Entwurf", "Anfahrt Wien", "Fehleranalyse Schnittstelle", "",
)  # fmt: skip
INTROTEXTS = (
    "Hiermit stellen wir folgende Posten in Rechnung:",
    "wir erlauben uns für unsere Bemühungen folgende Positionen in Rechnung zu stellen.",
    "Vielen Dank für Ihren Auftrag. Wir berechnen Ihnen wie folgt:",
    "",
)
ESTIMATE_INTROS = (
    "Gerne unterbreiten wir Ihnen folgendes Angebot:",
    "vielen Dank für Ihre Anfrage. Wir bieten Ihnen an:",
    "",
)
INVOICE_COMMENTS = (
    "Zahlungserinnerung versendet",
    "Kunde bittet um Ratenzahlung",
    "Rechnung per Post und E-Mail verschickt",
    "Skonto gewährt",
)
PAYMENT_INFOS = {
    "1": "Bitte überweisen Sie den Betrag innerhalb der Zahlungsfrist auf unser Konto.",
    "2": "Der Betrag wird per SEPA-Lastschrift von Ihrem Konto abgebucht.",
    "3": "Betrag bar erhalten.",
    "4": "Bezahlt per PayPal.",
    "5": "Bitte zahlen Sie vorab per Vorkasse.",
    "6": "Die Zahlung erfolgt per Kreditkarte.",
}
RECURRING_FREQUENCIES = ("monthly", "monthly", "3 months", "6 months", "yearly", "2 weeks")
RECURRING_DAYS = {
    "monthly": 30.4,
    "3 months": 91.3,
    "6 months": 182.6,
    "yearly": 365.2,
    "2 weeks": 14,
}
PRO_TEMPLATES = (
    "Standard Rechnungsvorlage",
    "Englischsprachige Vorlage",
    "Vorlage Österreich (Wien)",
)
AUTOMATIC_ARTICLES = (  # (number, title, unit price, is addon)
    ("1", "Lean CRM - Basic", 15.0, False), ("2", "Lean CRM - Pro", 29.0, False),
    ("3", "Lean CRM - Enterprise", 79.0, False), ("4", "Buchhaltung Starter", 9.0, False),
    ("5", "Buchhaltung Plus", 19.0, False), ("6", "Zusatz-User", 10.0, True),
    ("7", "Zusatz-Speicher 10 GB", 4.5, True), ("8", "Jahreslizenz Premium", 299.0, False),
    ("9", "Schulungspaket", 149.0, False), ("10", "Support-Flatrate", 39.0, False),
    ("code-3", "Größeres Kontingent", 25.0, False), ("video", "Video-Tutorials", 5.0, True),
)  # fmt: skip
COUPON_CODES = ("fastbill", "SOMMER2024", "NEUKUNDE10", "TREUE15", "WINTER25")


# ---------------------------------------------------------------------------------------------
# Small helpers


class FastRandom(random.Random):
    """random.Random with float-based choice/randint/randrange.

    The stdlib versions go through _randbelow, which made them the largest single cost of
    building rows. The tiny bias of float scaling does not matter for test data.
    """

    def choice(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        return start + step * int(self.random() * ((stop - start + step - 1) // step))


class When(NamedTuple):
    """The business date of a record and the latest date any of its events may carry."""

    day: date
    last: date


def scaled(base: int, size: float, minimum: int = 1) -> int:
    return max(minimum, round(base * size))


def num(value: float) -> int | float:
    """A JSON amount as FastBill computes it: whole values as integers, else 2 decimals."""
    value = round(value, 2)
    return int(value) if value == int(value) else value


def fmt_dt(day: date, seconds: int = 0) -> str:
    return f"{day.isoformat()} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def office_seconds(rng: random.Random) -> int:
    return rng.randint(7 * 3600, 19 * 3600)


def ascii_slug(text: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ë": "e", " ": "."})
    return "".join(c for c in text.lower().translate(table) if c.isalnum() or c in ".-")


def token(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


SERVICE_UNITS = {"Std.", "Tag", "Pauschal", "Monat", "Wort", "km", "h"}


def gln(*parts: object) -> str:
    """A 13-digit GLN with its GS1 check digit, derived (no random draw: other data unchanged)."""
    body = "40" + str(int(token("gln", *parts), 16))[:10]
    weights = [1 if i % 2 == 0 else 3 for i in range(12)]
    check = (10 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 10) % 10
    return body + str(check)


def zero_paid_date(rng: random.Random) -> str:
    # JSON answers use the datetime zero; the XML-era short form still shows up now and then.
    return ZERO_DATE if rng.random() < 0.12 else ZERO_DATETIME


def is_zero_date(value: object) -> bool:
    text = "" if value is None else str(value)
    return text == "" or text.startswith("0000-00-00")


def quirky_list(rng: random.Random, items: list[Any]) -> Any:
    """Return a list the way FastBill's PHP backend may encode it (fastbill-api.md §5.7)."""
    if not items:
        roll = rng.random()
        return "" if roll < 0.12 else ({} if roll < 0.2 else [])
    if rng.random() < 0.05:
        return {str(k): item for k, item in enumerate(items)}
    return items


def maybe_int(rng: random.Random, value: str, share: float = 0.03) -> str | int:
    return int(value) if rng.random() < share else value


def amount_text(rng: random.Random, value: float, digits: int, share_number: float) -> str | float:
    """Stored amounts are usually strings such as "1000.0000", sometimes plain numbers."""
    if rng.random() < share_number:
        return num(value)
    return f"{value:.{digits}f}"


def delivery_text(rng: random.Random, day: date) -> str:
    roll = rng.random()
    month = f"{MONTHS_DE[day.month - 1]} {day.year}"
    if roll < 0.4:
        return month
    if roll < 0.5:
        return month.upper()
    if roll < 0.75:
        start = day - timedelta(days=30)
        return f"{start:%d.%m.%Y} - {day - timedelta(days=1):%d.%m.%Y}"
    return ""


def last_update(rng: random.Random, floor: date, last: date, created: str = "") -> str:
    """LASTUPDATE >= the record's own dates (and CREATED); a few old records were edited lately."""
    if rng.random() < 0.04:
        floor = max(floor, last - timedelta(days=30))
    upper = max(floor, min(last, floor + timedelta(days=20)))
    day = floor + timedelta(days=rng.randint(0, (upper - floor).days))
    return max(fmt_dt(day, office_seconds(rng)), created)


def spread_day(rng: random.Random, i: int, n: int, start: date, end: date) -> date:
    """Dates grow with the index (so with the ID), as in a real account."""
    span = (end - start).days + 1
    return start + timedelta(days=int((i + rng.random()) / max(n, 1) * span))


# ---------------------------------------------------------------------------------------------
# Table definitions

CoreFn = Callable[["Dataset", random.Random, int, When, dict[str, Any]], Record]
BuildFn = Callable[["Dataset", Record, random.Random, int], Record]


@dataclass(frozen=True)
class TableDef:
    pk: str
    core: CoreFn
    build: BuildFn
    first_day: date = FIXED_START


class Table:
    """All records of one read service: core columns, lazily built rows and runtime changes."""

    def __init__(self, ds: Dataset, service: str, tdef: TableDef, days: list[date]) -> None:
        self.ds = ds
        self.service = service
        self.tdef = tdef
        self.pk = tdef.pk
        self.version = 0  # bumped on every change, so query caches know when to recompute
        self.state: dict[str, Any] = {}  # generator state such as running invoice numbers
        self.cols: dict[str, list[str]] = {}
        self._custom: dict[int, Record] = {}  # index -> full record, for added/changed records
        self._orig_core: dict[int, Record] = {}  # core of changed records, as generated
        self._rows: OrderedDict[int, str] = OrderedDict()
        self._base: OrderedDict[int, Record] = OrderedDict()
        self._pk_index: dict[str, int] = {}
        # Every document copies its customer's address, so customers stay built (~5 kB each);
        # other tables keep a small cache for filters that read full records.
        self._base_cache_size = 10**9 if service == "customer.get" else 4096
        self._seed = int(token(ds.seed, ds.edition, service)[:12], 16) << 24
        rng = FastRandom(self._seed)
        for i, day in enumerate(days):
            self._append_core(tdef.core(ds, rng, i, When(day, FIXED_END), self.state))
        self.order = sorted(range(len(days)), key=self._sort_key)

    # -- reading

    @property
    def count(self) -> int:
        return len(self.cols[self.pk])

    def record(self, i: int) -> Record:
        """The record at index i (shared; callers must not mutate it)."""
        return self._custom.get(i) or self.base_record(i)

    def base_record(self, i: int) -> Record:
        cached = self._base.get(i)
        if cached is None:
            core = self._orig_core.get(i) or {name: col[i] for name, col in self.cols.items()}
            cached = self.tdef.build(self.ds, core, FastRandom(self._seed + 1 + i), i)
            self._base[i] = cached
            if len(self._base) > self._base_cache_size:
                self._base.popitem(last=False)
        return cached

    def row_json(self, i: int) -> str:
        text = self._rows.get(i)
        if text is None:
            text = json.dumps(self.record(i))
            self._rows[i] = text
            if len(self._rows) > self.ds.row_cache_size:
                self._rows.popitem(last=False)
        return text

    def unbuilt_rows(self) -> list[int]:
        return [i for i in self.order if i not in self._rows]

    def index_of(self, pk: object) -> int | None:
        if not self._pk_index:
            self._pk_index = {value: i for i, value in enumerate(self.cols[self.pk])}
        return self._pk_index.get(str(pk))

    # -- changing

    def add(self, record: Record) -> int:
        i = self.count
        self._custom[i] = record
        self._append_core({name: record.get(name) for name in self.cols})
        self._pk_index.clear()
        if self.order and self._sort_key(i) < self._sort_key(self.order[-1]):
            self.order = sorted(range(self.count), key=self._sort_key)
        else:
            self.order.append(i)
        self.version += 1
        return i

    def replace(self, i: int, record: Record) -> None:
        # The filter columns follow the change; the generated core is kept so that the original
        # record (e.g. the address an invoice was sent to) can still be rebuilt.
        self._orig_core.setdefault(i, {name: col[i] for name, col in self.cols.items()})
        self._custom[i] = record
        for name, col in self.cols.items():
            col[i] = _col_text(record.get(name))
        self._rows.pop(i, None)
        self.version += 1

    def fresh_copy(self, i: int) -> Record:
        return json.loads(self.row_json(i))

    def added_rng(self, i: int) -> random.Random:
        return FastRandom(self._seed ^ (0xADD << 36) ^ i)

    # -- internals

    def _append_core(self, core: Record) -> None:
        if not self.cols:
            self.cols = {name: [] for name in core}
        for name, col in self.cols.items():
            col.append(_col_text(core.get(name)))

    def _sort_key(self, i: int) -> tuple[int, int, str]:
        """Numeric keys compare as numbers and come first; other keys compare as text."""
        value = self.cols[self.pk][i]
        return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _col_text(value: object) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# The dataset


class Dataset:
    """The records of one sandbox account; tables are generated on first use."""

    def __init__(
        self, edition: str, size: float, seed: int, row_cache_size: int = 1_000_000
    ) -> None:
        if edition not in BASE_COUNTS:
            raise ValueError(f"edition must be 'pro' or 'automatic', not {edition!r}")
        self.edition = edition
        self.size = size
        self.seed = seed
        # JSON text per row; ~1.3 kB on average, so the default holds a 500k-record benchmark.
        self.row_cache_size = row_cache_size
        self.lock = threading.RLock()
        self.defs = PRO_DEFS if edition == "pro" else AUTOMATIC_DEFS
        self.base_counts = {
            svc: self._base_count(svc, n) for svc, n in BASE_COUNTS[edition].items()
        }
        self._salt = int(token(seed, edition, "salt")[:8], 16)
        self._tables: dict[str, Table] = {}
        self._added: dict[str, int] = {}

    @property
    def services(self) -> list[str]:
        return list(self.defs)

    def _base_count(self, service: str, base: int) -> int:
        if service == "time.get":
            return scaled(base, self.size, CURRENT_MONTH_TIME_ENTRIES + 1)
        return scaled(base, self.size)

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {s: self.base_counts[s] + self._added.get(s, 0) for s in self.defs}

    def table(self, service: str) -> Table:
        table = self._tables.get(service)
        if table is None:
            with self.lock:
                table = self._tables.get(service)
                if table is None:
                    table = Table(self, service, self.defs[service], self._base_days(service))
                    self._tables[service] = table
        return table

    def _base_days(self, service: str) -> list[date]:
        n = self.base_counts[service]
        tdef = self.defs[service]
        rng = FastRandom(token(self.seed, self.edition, service, "days"))
        if service != "time.get":
            return [spread_day(rng, i, n, tdef.first_day, FIXED_END) for i in range(n)]
        fixed = n - CURRENT_MONTH_TIME_ENTRIES
        days = [spread_day(rng, i, fixed, tdef.first_day, FIXED_END) for i in range(fixed)]
        today = self.today()
        month_start = today.replace(day=1)
        for k in range(CURRENT_MONTH_TIME_ENTRIES):
            offset = k * (today.day - 1) // max(CURRENT_MONTH_TIME_ENTRIES - 1, 1)
            days.append(month_start + timedelta(days=offset))
        return days

    # -- clock (real time, Berlin)

    @staticmethod
    def now() -> datetime:
        return datetime.now(TIMEZONE).replace(tzinfo=None, microsecond=0)

    def today(self) -> date:
        return self.now().date()

    # -- ids and cross references, computable without building the referenced table

    def pk_for(self, service: str, i: int) -> int:
        first, step = _ID_LAYOUT[self.edition][service]
        return first + i * step + (i * 7 + self._salt) % step

    def customer_count(self) -> int:
        return self.base_counts["customer.get"]

    def customer_snapshot(self, customer_id: str) -> Record:
        """The customer as generated: invoices keep the address they were sent to."""
        table = self.table("customer.get")
        i = table.index_of(customer_id)
        return table.base_record(i) if i is not None and i < table.count else {}

    def project_customer(self, p: int) -> int:
        return (p * 37 + self._salt) % self.customer_count()

    def project_task_ids(self, p: int) -> list[int]:
        return [50000 + p * 10 + t for t in range(1 + (p * 5 + self._salt) % 4)]

    def template_id(self, t: int) -> int:
        return 1 if t == 0 else 3063 + (t - 1) * 112

    def template_hash(self, template_id: str) -> str:
        """The TEMPLATE_HASH template.get gives the template with this ID."""
        for i in range(self.base_counts["template.get"]):
            if str(self.template_id(i)) == template_id:
                return token(self.seed, "template", i)[:32]
        return ""

    def random_template_id(self, rng: random.Random) -> str:
        count = self.base_counts["template.get"]
        return str(self.template_id(0 if rng.random() < 0.7 else rng.randrange(count)))

    def automatic_article(self, a: int) -> tuple[str, str, float, bool]:
        if a < len(AUTOMATIC_ARTICLES):
            return AUTOMATIC_ARTICLES[a]
        base = AUTOMATIC_ARTICLES[a % len(AUTOMATIC_ARTICLES)]
        return str(100 + a), f"{base[1]} ({a})", base[2], a % 4 == 3

    @cached_property
    def automatic_articles(self) -> list[tuple[str, str, float, bool]]:
        return [self.automatic_article(a) for a in range(self.base_counts["article.get"])]

    # -- prebuilding rows

    def warm(self, services: Iterable[str]) -> None:
        """Build and cache the JSON of every row (rows depend only on seed and index)."""
        for service in services:
            table = self.table(service)
            pending = table.unbuilt_rows()
            for start in range(0, len(pending), 500):  # let requests in between chunks
                with self.lock:
                    for i in pending[start : start + 500]:
                        table.row_json(i)

    # -- runtime changes

    def add_records(
        self, service: str, n: int, fix_core: Callable[[Record, Table], None] | None = None
    ) -> list[Any]:
        """Append n generated records dated today; fix_core may adjust each core before building."""
        with self.lock:
            table = self.table(service)
            today, stamp = self.today(), self.now_text()
            ids = []
            for _ in range(n):
                i = table.count
                rng = table.added_rng(i)
                core = table.tdef.core(self, rng, i, When(today, today), table.state)
                if fix_core is not None:
                    fix_core(core, table)
                record = table.tdef.build(self, core, rng, i)
                record[table.pk] = core[table.pk]  # new records always get the string form
                for field in ("LASTUPDATE", "CREATED"):
                    if field in record:
                        record[field] = stamp
                table.add(record)
                ids.append(record[table.pk])
            self._added[service] = self._added.get(service, 0) + n
            return ids

    def update_records(self, service: str, ids: Iterable[object], fields: Record) -> list[Any]:
        """Overwrite top-level fields; LASTUPDATE moves to now unless it is one of the fields."""
        with self.lock:
            table = self.table(service)
            if table.pk in fields:
                raise ValueError(f"{table.pk} identifies the record and cannot be changed")
            stamp = self.now_text()
            done = []
            for pk in ids:
                i = table.index_of(pk)
                if i is None:
                    raise KeyError(f"{service}: no record with {table.pk} {pk!r}")
                record = table.fresh_copy(i)
                record.update(fields)
                if "LASTUPDATE" in record and "LASTUPDATE" not in fields:
                    record["LASTUPDATE"] = stamp
                table.replace(i, record)
                done.append(record[table.pk])
            return done

    def add_invoices(self, n: int) -> list[Any]:
        """n new outgoing, unpaid, uncanceled invoices dated today."""
        today = self.today()

        def outgoing_unpaid(core: Record, table: Table) -> None:
            core.update(
                TYPE="outgoing",
                DUE_DATE=fmt_dt(today + timedelta(days=14)),
                PAID_DATE=ZERO_DATETIME,
                IS_CANCELED="0",
            )
            if not core["INVOICE_NUMBER"]:
                core["INVOICE_NUMBER"] = _next_invoice_number(self, table.state, today)

        return self.add_records("invoice.get", n, outgoing_unpaid)

    def pay_invoices(self, n: int) -> list[Any]:
        """Mark the n oldest unpaid, uncanceled outgoing invoices as paid today."""
        with self.lock:
            table = self.table("invoice.get")
            cols = table.cols
            open_ones = [
                i
                for i in table.order
                if cols["TYPE"][i] == "outgoing"
                and cols["IS_CANCELED"][i] == "0"
                and is_zero_date(cols["PAID_DATE"][i])
            ]
            open_ones.sort(key=lambda i: cols["INVOICE_DATE"][i])  # stable: ties keep PK order
            paid_on = fmt_dt(self.today())
            paid = []
            for i in open_ones[:n]:
                record = table.record(i)
                payment = _payment(
                    str(9_000_000 + i), paid_on, record.get("TOTAL", 0),
                    record.get("CURRENCY_CODE", "EUR"), str(record.get("PAYMENT_TYPE", "1")),
                )  # fmt: skip
                fields = {"PAID_DATE": paid_on, "PAYMENTS": [payment], "STATE": "paid"}
                paid += self.update_records("invoice.get", [cols[table.pk][i]], fields)
            return paid

    def now_text(self) -> str:
        moment = self.now()
        return fmt_dt(moment.date(), _seconds_of(moment))


def _seconds_of(moment: datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


# ---------------------------------------------------------------------------------------------
# People, addresses, banks


def _pick_country(rng: random.Random) -> str:
    roll = rng.random()
    return "DE" if roll < 0.72 else ("AT" if roll < 0.92 else "CH")


def _core_customer(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    country = _pick_country(rng)
    city = rng.choice(CITIES[country])[0]
    number = f"K{10020 + i}" if rng.random() < 0.9 else str(1000 + i)
    return {
        "CUSTOMER_ID": str(ds.pk_for("customer.get", i)),
        "CUSTOMER_NUMBER": number,
        "CUSTOMER_TYPE": "business" if rng.random() < 0.65 else "consumer",
        "COUNTRY_CODE": country,
        "CITY": city,
        "CREATED": fmt_dt(when.day, office_seconds(rng)),
    }


def _person(rng: random.Random) -> tuple[str, str, str]:
    salutation = rng.choice(("mr", "mrs", "mr", "mrs", "family", ""))
    first = rng.choice(FIRST_NAMES_F if salutation == "mrs" else FIRST_NAMES_M)
    return salutation, first, rng.choice(LAST_NAMES)


def _organization(rng: random.Random, country: str, city: str, last: str) -> str:
    pattern = rng.choice(ORG_PATTERNS[country])
    return pattern.format(last=last, last2=rng.choice(LAST_NAMES), city=city)


def _phone(rng: random.Random, country: str, area: str) -> str:
    digits = str(rng.randint(1_000_000, 9_999_999))
    if rng.random() < 0.5:
        return f"{COUNTRY_PREFIX[country]} {area} {digits}"
    return f"0{area} {digits}"


def _iban(rng: random.Random, country: str) -> str:
    length = {"DE": 18, "AT": 16, "CH": 17}[country]
    body = "".join(str(rng.randrange(10)) for _ in range(length))
    return f"{country}{rng.randint(10, 99)}{body}"


def _bank_fields(rng: random.Random, country: str, owner: str, payment_type: str) -> Record:
    keys = ("BANK_NAME", "BANK_ACCOUNT_NUMBER", "BANK_CODE", "BANK_ACCOUNT_OWNER", "BANK_IBAN",
            "BANK_BIC", "BANK_ACCOUNT_MANDATE_REFERENCE", "MANDATE_REFERENCE")  # fmt: skip
    if payment_type != "2" and rng.random() < 0.6:
        return dict.fromkeys(keys, "")
    name, bic = rng.choice(BANKS)
    mandate = f"MR-{rng.randint(10000, 99999)}" if payment_type == "2" else ""
    # Clients use both mandate spellings, so both are sent.
    values = (name, str(rng.randint(10**8, 10**10)), str(rng.randint(10**7, 10**8 - 1)), owner,
              _iban(rng, country), bic, mandate, mandate)  # fmt: skip
    return dict(zip(keys, values, strict=True))


def _build_customer(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    country, city = core["COUNTRY_CODE"], core["CITY"]
    zipcode, area = next((z, a) for c, z, a in CITIES[country] if c == city)
    salutation, first, last = _person(rng)
    business = core["CUSTOMER_TYPE"] == "business"
    org = _organization(rng, country, city, last) if business else ""
    payment_type = rng.choice(("1", "1", "1", "2", "2", "4", "5", "6"))
    created = date.fromisoformat(core["CREATED"][:10])
    email_user = ascii_slug(f"{first}.{last}")
    domain = (
        ascii_slug(org.split(" ")[0]) + ".de" if org else rng.choice(("gmx.de", "web.de", "gmx.at"))
    )
    cid = core["CUSTOMER_ID"]
    vat_id = f"{country}{rng.randint(10**8, 10**9 - 1)}" if business and rng.random() < 0.7 else ""
    leitweg_id = f"04011000-{rng.randint(1000, 9999)}-{rng.randint(10, 99)}"  # BUYER_REFERENCE
    # DELETED_DATE appeared in 2025 (PHP#52); a few deleted customers still show up in listings.
    deleted = last_update(rng, created, FIXED_END, core["CREATED"]) if rng.random() < 0.02 else ""
    record: Record = {
        "CUSTOMER_ID": maybe_int(rng, cid),
        "CUSTOMER_NUMBER": core["CUSTOMER_NUMBER"],
        "DAYS_FOR_PAYMENT": rng.choice(("14", "14", "30", "7", "10")),
        "CREATED": core["CREATED"],
        "PAYMENT_TYPE": payment_type,
        **_bank_fields(rng, country, org or f"{first} {last}", payment_type),
        "SHOW_PAYMENT_NOTICE": rng.choice(("1", "0")),
        "ACCOUNT_RECEIVABLE": str(10000 + i) if rng.random() < 0.5 else "",
        "CUSTOMER_ACCOUNT": "",
        "CUSTOMER_TYPE": core["CUSTOMER_TYPE"],
        "TOP": "1" if rng.random() < 0.1 else "0",
        "NEWSLETTER_OPTIN": rng.choice(("0", "1")),
        "ORGANIZATION": org,
        "POSITION": rng.choice(("Geschäftsführer", "Einkauf", "")) if business else "",
        "ACADEMIC_DEGREE": "Dr." if rng.random() < 0.08 else "",
        "SALUTATION": salutation,
        "FIRST_NAME": first,
        "LAST_NAME": last,
        "ADDRESS": f"{rng.choice(STREETS[country])} {rng.randint(1, 140)}",
        "ADDRESS_2": rng.choice(("", "", "", "Hinterhaus", "c/o Buchhaltung", "2. OG")),
        "ZIPCODE": zipcode,
        "CITY": city,
        "COUNTRY_CODE": country,
        "SECONDARY_ADDRESS": "",
        "PHONE": _phone(rng, country, area),
        "PHONE_2": "",
        "FAX": _phone(rng, country, area) if rng.random() < 0.2 else "",
        "MOBILE": f"{COUNTRY_PREFIX[country]} 1{rng.randint(50, 79)} {rng.randint(10**6, 10**7)}",
        "EMAIL": f"{email_user}@{domain}",
        "WEBSITE": f"https://www.{domain}" if org else "",
        "VAT_ID": vat_id,
        "CURRENCY_CODE": "CHF" if country == "CH" else "EUR",
        "LASTUPDATE": max(last_update(rng, created, FIXED_END, core["CREATED"]), deleted),
        "TAGS": rng.choice(("", "", "Stammkunde", "Wien,Großkunde", "Newsletter")),
        "COMMENT": rng.choice(("", "", "", "Kunde aus Österreich", "Bitte nur per E-Mail")),
        "BUYER_REFERENCE": leitweg_id,
        "DOCUMENT_HISTORY_URL": f"https://my.fastbill.com/history/{token(ds.seed, cid)[:40]}",
        # Seen since 2025 (PHP#52); a few deleted customers still appear in listings.
        "DELETED_DATE": deleted,
        # E-invoicing (2025/26): the buyer's Global Location Number, for some business customers.
        "GLN": gln(ds.seed, cid)
        if business and int(token(ds.seed, "gln?", cid), 16) % 4 == 0
        else "",
    }
    if ds.edition == "automatic":
        _automatic_customer_fields(ds, record, rng, cid)
    return record


def _automatic_customer_fields(ds: Dataset, record: Record, rng: random.Random, cid: str) -> None:
    for pro_only in ("CUSTOMER_ACCOUNT", "ACADEMIC_DEGREE", "SECONDARY_ADDRESS", "WEBSITE", "TAGS",
                     "BUYER_REFERENCE", "DOCUMENT_HISTORY_URL", "DELETED_DATE", "GLN",
                     "BANK_IBAN", "BANK_BIC", "BANK_ACCOUNT_MANDATE_REFERENCE",
                     "MANDATE_REFERENCE"):  # fmt: skip
        record.pop(pro_only, None)
    secret = token(ds.seed, "automatic", cid)
    record.update(
        {
            "CUSTOMER_EXT_UID": f"crm-{rng.randint(1000, 99999)}" if rng.random() < 0.4 else "",
            "LANGUAGE_CODE": rng.choice(("DE", "DE", "DE", "EN")),
            "PAYMILL_TOKEN": "",
            "HASH": secret[:32],
            "DASHBOARD_URL": f"https://automatic.fastbill.com/dashboard/{secret[32:58]}/{cid}",
            "CHANGEDATA_URL": (
                f"https://automatic.fastbill.com/index.php?cmd=1007&token={secret[:30]}&customerId={cid}"
            ),
        }
    )


def _address_of(customer: Record) -> Record:
    keys = ("ORGANIZATION", "SALUTATION", "FIRST_NAME", "LAST_NAME", "ADDRESS", "ADDRESS_2",
            "ZIPCODE", "CITY", "COUNTRY_CODE", "VAT_ID")  # fmt: skip
    return {key: customer.get(key, "") for key in keys}


def _core_contact(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    customer = int(rng.random() ** 1.5 * ds.customer_count())  # some customers have several
    return {
        "CONTACT_ID": str(ds.pk_for("contact.get", i)),
        "CUSTOMER_ID": str(ds.pk_for("customer.get", customer)),
        "CREATED": fmt_dt(when.day, office_seconds(rng)),
    }


def _build_contact(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    customer = ds.customer_snapshot(core["CUSTOMER_ID"])
    country = customer.get("COUNTRY_CODE", "DE")
    salutation, first, last = _person(rng)
    domain = str(customer.get("EMAIL", "@example.de")).split("@")[-1]
    created = date.fromisoformat(core["CREATED"][:10])
    return {
        "CONTACT_ID": maybe_int(rng, core["CONTACT_ID"]),
        "CUSTOMER_ID": core["CUSTOMER_ID"],
        "ORGANIZATION": customer.get("ORGANIZATION", ""),
        "POSITION": rng.choice(("Buchhaltung", "Projektleitung", "Einkauf", "Assistenz", "")),
        "ACADEMIC_DEGREE": "Dr." if rng.random() < 0.06 else "",
        "SALUTATION": salutation,
        "FIRST_NAME": first,
        "LAST_NAME": last,
        "ADDRESS": customer.get("ADDRESS", ""),
        "ADDRESS_2": "",
        "ZIPCODE": customer.get("ZIPCODE", ""),
        "CITY": customer.get("CITY", ""),
        "COUNTRY_CODE": country,
        "SECONDARY_ADDRESS": "",
        "PHONE": _phone(rng, country, "30"),
        "PHONE_2": "",
        "FAX": "",
        "MOBILE": "",
        "EMAIL": f"{ascii_slug(first + '.' + last)}@{domain}",
        "VAT_ID": "",
        "WEBSITE": customer.get("WEBSITE", ""),
        "TAGS": rng.choice(("", "", "Rechnungsempfang", "Technik")),
        "CURRENCY_CODE": customer.get("CURRENCY_CODE", "EUR"),
        "COMMENT": rng.choice(
            ("", "", "Ansprechpartnerin für Rechnungen", "nur vormittags erreichbar")
        ),
        "CREATED": core["CREATED"],
        "LASTUPDATE": last_update(rng, created, FIXED_END, core["CREATED"]),
    }


# ---------------------------------------------------------------------------------------------
# Invoices and the documents that look like them (revenues, recurring invoices, estimates)


def _next_invoice_number(ds: Dataset, state: dict, day: date) -> str:
    counters = state.setdefault("numbers", {})
    if ds.edition == "automatic":  # Automatic numbers are a plain running count ("7")
        counters[0] = counters.get(0, 0) + 1
        return str(counters[0])
    counters[day.year] = counters.get(day.year, 0) + 1
    return f"{day.year}-{counters[day.year]:03d}"


def _paid_date(rng: random.Random, when: When, days_for_payment: int, p_paid: float) -> str:
    # Old invoices are mostly paid, recent ones mostly open.
    if (when.last - when.day).days < 45:
        p_paid /= 2
    if rng.random() >= p_paid:
        return zero_paid_date(rng)
    paid = min(when.day + timedelta(days=rng.randint(0, days_for_payment + 20)), when.last)
    return fmt_dt(paid)


def _core_invoice(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    roll = rng.random()
    inv_type = "outgoing" if roll < 0.82 else ("draft" if roll < 0.92 else "credit")
    canceled = "1" if inv_type == "outgoing" and rng.random() < 0.03 else "0"
    days = rng.choice((14, 14, 14, 30, 7, 10))
    p_paid = 0.0 if inv_type == "draft" or canceled == "1" else 0.85
    return {
        "INVOICE_ID": str(ds.pk_for("invoice.get", i)),
        "TYPE": inv_type,
        "CUSTOMER_ID": str(ds.pk_for("customer.get", rng.randrange(ds.customer_count()))),
        "INVOICE_NUMBER": "" if inv_type == "draft" else _next_invoice_number(ds, state, when.day),
        "INVOICE_DATE": when.day.isoformat(),
        "DUE_DATE": fmt_dt(when.day + timedelta(days=days)),
        "PAID_DATE": _paid_date(rng, when, days, p_paid),
        "IS_CANCELED": canceled,
        "SUBSCRIPTION_ID": (
            str(ds.pk_for("subscription.get", rng.randrange(ds.base_counts["subscription.get"])))
            if ds.edition == "automatic" and rng.random() < 0.8
            else ""
        ),
    }


def _service_period(rng: random.Random, day: date, share: float) -> Record:
    if rng.random() >= share:
        return {"SERVICE_PERIOD_START": "", "SERVICE_PERIOD_END": ""}
    return {
        "SERVICE_PERIOD_START": (day - timedelta(days=30)).isoformat(),
        "SERVICE_PERIOD_END": (day - timedelta(days=1)).isoformat(),
    }


def _vat_rate(rng: random.Random, customer: Record) -> float:
    if customer.get("COUNTRY_CODE") == "CH":
        return 0.0  # export outside the EU
    if customer.get("COUNTRY_CODE") == "AT" and customer.get("VAT_ID"):
        return 0.0  # reverse charge within the EU
    return 19.0


def _items(
    rng: random.Random, first_item_id: int, count: int, vat: float, sign: int, key: str
) -> list[Record]:
    items = []
    for k in range(count):
        desc, unit, low, high, default_vat = rng.choice(SERVICES_CATALOG)
        qty = rng.choice((1, 1, 1, 2, 3, 5, 8, 10, 0.5, 1.5, 7.5, 12, 40))
        price = round(rng.uniform(low, high), 2) * sign
        rate = default_vat if vat else 0.0
        net = round(qty * price, 2)
        tax = round(net * rate / 100, 2)
        items.append(
            {
                key: str(first_item_id + k),
                "ARTICLE_NUMBER": str(rng.randint(1, 40)) if rng.random() < 0.5 else "",
                "DESCRIPTION": desc,
                "QUANTITY": amount_text(rng, qty, 2, 0.05),
                "UNIT": unit,
                "UNIT_PRICE": amount_text(rng, price, 4, 0.08),
                "VAT_PERCENT": f"{rate:.2f}",
                "VAT_VALUE": num(tax),
                "COMPLETE_NET": num(net),
                "COMPLETE_GROSS": num(net + tax),
                "CATEGORY": "",
                "CATEGORY_ID": "",
                "SORT_ORDER": k + 1,
            }
        )
    return items


def _vat_items(rng: random.Random, items: list[Record]) -> list[Record]:
    groups: dict[str, list[float]] = {}
    for item in items:
        sums = groups.setdefault(item["VAT_PERCENT"], [0.0, 0.0])
        sums[0] += float(item["COMPLETE_NET"])
        sums[1] += float(item["VAT_VALUE"])
    as_text = rng.random() < 0.15  # VAT_ITEMS are numbers in FBA18 but strings in other payloads
    return [
        {
            "VAT_PERCENT": rate,
            "COMPLETE_NET": f"{net:.2f}" if as_text else num(net),
            "VAT_VALUE": f"{tax:.2f}" if as_text else num(tax),
        }
        for rate, (net, tax) in sorted(groups.items())
    ]


def _payment(pid: str, when: str, amount: Any, currency: Any, ptype: str) -> Record:
    return {"PAYMENT_ID": pid, "DATE": when, "AMOUNT": amount, "CURRENCY_CODE": currency,
            "TYPE": ptype, "NOTE": ""}  # fmt: skip


def _payments(
    rng: random.Random, i: int, paid: str, total: float, currency: Any, ptype: str
) -> Any:
    if is_zero_date(paid):
        return quirky_list(rng, [])
    when = f"{paid[:10]} {fmt_dt(FIXED_START, office_seconds(rng))[11:]}"
    if rng.random() < 0.1:  # paid in two instalments
        half = round(total / 2, 2)
        return quirky_list(
            rng,
            [
                _payment(f"{3_000_000 + i * 2}", when, num(half), currency, ptype),
                _payment(f"{3_000_001 + i * 2}", when, num(total - half), currency, ptype),
            ],
        )
    return quirky_list(rng, [_payment(f"{3_000_000 + i * 2}", when, num(total), currency, ptype)])


def _comments(rng: random.Random, day: date) -> Any:
    comments = [
        {
            "DATE": fmt_dt(day + timedelta(days=rng.randint(1, 20)), office_seconds(rng)),
            "COMMENT": rng.choice(INVOICE_COMMENTS),
            "COMMENT_PUBLIC": rng.choice(("0", "1")),
        }
        for _ in range(rng.choice((0, 0, 0, 0, 0, 1, 1, 2)))
    ]
    return quirky_list(rng, comments)


def _document_body(
    ds: Dataset, core: Record, rng: random.Random, i: int, key_prefix: int, sign: int = 1
) -> Record:
    """Customer address, items and totals shared by invoices, revenues, recurring and estimates."""
    customer = ds.customer_snapshot(core["CUSTOMER_ID"])
    currency = customer.get("CURRENCY_CODE", "EUR")
    if currency == "EUR" and rng.random() < 0.03:
        currency = rng.choice(("USD", "GBP"))
    count = rng.choice((1, 1, 2, 2, 3, 4))
    vat = _vat_rate(rng, customer)
    items = _items(rng, key_prefix + i * 5, count, vat, sign, "INVOICE_ITEM_ID")
    vat_items = _vat_items(rng, items)
    sub_total = sum(float(item["COMPLETE_NET"]) for item in items)
    vat_total = sum(float(item["VAT_VALUE"]) for item in items)
    return {
        "customer": customer,
        "currency": currency,
        "items": items,
        "vat_items": vat_items,
        "sub_total": sub_total,
        "vat_total": vat_total,
    }


# The connector's schemas give all document streams (invoices, revenues, expenses, estimates,
# recurring invoices) one shared field set. Every document carries all of it, in raw form:
# party fields come from the customer (or supplier), the rest default to FastBill's "nothing".
PARTY_FIELDS = (
    "ORGANIZATION", "SALUTATION", "FIRST_NAME", "LAST_NAME", "ACADEMIC_DEGREE", "POSITION",
    "ADDRESS", "ADDRESS_2", "ZIPCODE", "CITY", "COUNTRY_CODE", "SECONDARY_ADDRESS", "VAT_ID",
    "EMAIL", "PHONE", "PHONE_2", "FAX", "MOBILE", "WEBSITE", "BUYER_REFERENCE", "CUSTOMER_NUMBER",
    "DAYS_FOR_PAYMENT", "PAYMENT_TYPE", "BANK_NAME", "BANK_ACCOUNT_NUMBER", "BANK_CODE",
    "BANK_ACCOUNT_OWNER", "BANK_IBAN", "BANK_BIC", "BANK_ACCOUNT_MANDATE_REFERENCE",
    "MANDATE_REFERENCE",
)  # fmt: skip
DOCUMENT_LIST_FIELDS = ("ITEMS", "VAT_ITEMS", "PAYMENTS", "COMMENTS")
DOCUMENT_DEFAULTS: dict[str, Any] = {
    "INVOICE_ID": "0", "TYPE": "", "CUSTOMER_ID": "0", "CUSTOMER_COSTCENTER_ID": "0",
    "CONTACT_ID": "0", "PROJECT_ID": "0", "SUBSCRIPTION_ID": "0",
    "SUBSCRIPTION_INVOICE_COUNTER": "0", "TEMPLATE_ID": "0", "CURRENCY_CODE": "EUR",
    "INVOICE_NUMBER": "", "INVOICE_TITLE": "", "INTROTEXT": "", "NOTE": "", "COMMENT": "",
    "COMMENT_": "", "AFFILIATE": "", "DELIVERY_DATE": "", "SERVICE_PERIOD_START": "",
    "SERVICE_PERIOD_END": "", "INVOICE_DATE": ZERO_DATE, "DUE_DATE": ZERO_DATETIME,
    "PAID_DATE": ZERO_DATETIME, "IS_CANCELED": "0", "IS_GROSS": "0", "EU_DELIVERY": "0",
    "CASH_DISCOUNT_PERCENT": "0.00", "CASH_DISCOUNT_DAYS": "0", "SUB_TOTAL": 0, "VAT_TOTAL": 0,
    "TOTAL": 0, "PAYMENT_INFO": "", "REFERENCED_INVOICE_ID": "", "STATE": "",
    # STATUS was renamed STATE in 2025 (PHP SDK history); the old key stays, empty.
    "STATUS": "", "DOCUMENT_URL": "", "DETAILS_URL": "", "CREATED": "", "LASTUPDATE": "",
}  # fmt: skip


def _complete_document(record: Record, party: Record, rng: random.Random) -> Record:
    for key in PARTY_FIELDS:
        if key not in record:
            record[key] = party.get(key, "")
    for key in DOCUMENT_LIST_FIELDS:
        if key not in record:
            record[key] = quirky_list(rng, [])
    for key, value in DOCUMENT_DEFAULTS.items():
        record.setdefault(key, value)
    # The read key is REFERENCED_INVOICE_ID, PR #54 calls it REFERENCE_INVOICE_ID: send both.
    record.setdefault("REFERENCE_INVOICE_ID", record["REFERENCED_INVOICE_ID"])
    return record


def _created(rng: random.Random, day: date) -> str:
    """Documents are created early on their own date, before any LASTUPDATE of that day."""
    return fmt_dt(day, rng.randint(6 * 3600, 7 * 3600 - 1))


def invoice_state(record: Record, reference: date = FIXED_END) -> str:
    if record.get("TYPE") == "draft":
        return "draft"
    if str(record.get("IS_CANCELED")) == "1":
        return "canceled"
    if not is_zero_date(record.get("PAID_DATE")):
        return "paid"
    return "overdue" if str(record.get("DUE_DATE"))[:10] < reference.isoformat() else "unpaid"


def _build_invoice(
    ds: Dataset, core: Record, rng: random.Random, i: int, item_ids: int = 110_000
) -> Record:
    sign = -1 if core["TYPE"] == "credit" else 1
    body = _document_body(ds, core, rng, i, item_ids, sign)
    customer = body["customer"]
    day = date.fromisoformat(core["INVOICE_DATE"])
    total = body["sub_total"] + body["vat_total"]
    payment_type = str(customer.get("PAYMENT_TYPE", "1"))
    if ds.edition == "automatic" and rng.random() < 0.1:
        payment_type = "ueberweisung"  # a 2013 Automatic invoice spelled it out (WEL)
    paid_floor = (
        day if is_zero_date(core["PAID_DATE"]) else date.fromisoformat(core["PAID_DATE"][:10])
    )
    inv_id = core["INVOICE_ID"]
    details = f"https://my.fastbill.com/invoice/{token(inv_id, ds.seed)[:32]}"
    document = (
        ""
        if core["TYPE"] == "draft"
        else f"https://my.fastbill.com/download/{token(ds.seed, inv_id)}"
    )
    record: Record = {
        "INVOICE_ID": maybe_int(rng, inv_id),
        "TYPE": core["TYPE"],
        "CUSTOMER_ID": core["CUSTOMER_ID"],
        "CUSTOMER_NUMBER": customer.get("CUSTOMER_NUMBER", ""),
        "CUSTOMER_COSTCENTER_ID": "0",
        "PROJECT_ID": _optional_project_id(ds, rng),
        "CURRENCY_CODE": body["currency"],
        "DELIVERY_DATE": delivery_text(rng, day),
        "INVOICE_TITLE": rng.choice(("", "", "Rechnung", "Abschlagsrechnung", "Wartung")),
        "CASH_DISCOUNT_PERCENT": rng.choice(("0.00", "0.00", "0.00", "2.00", "3.00")),
        "CASH_DISCOUNT_DAYS": rng.choice(("0", "0", "0", "7", "10")),
        "SUB_TOTAL": num(body["sub_total"]),
        "VAT_TOTAL": num(body["vat_total"]),
        "VAT_ITEMS": quirky_list(rng, body["vat_items"]),
        "ITEMS": quirky_list(rng, body["items"]),
        "TOTAL": num(total),
        **_address_of(customer),
        "PAYMENT_TYPE": payment_type,
        **{
            key: customer.get(key, "")
            for key in (
                "BANK_NAME",
                "BANK_ACCOUNT_NUMBER",
                "BANK_CODE",
                "BANK_ACCOUNT_OWNER",
                "BANK_IBAN",
                "BANK_BIC",
            )
        },
        "TEMPLATE_ID": ds.random_template_id(rng),
        "INVOICE_NUMBER": core["INVOICE_NUMBER"],
        "INTROTEXT": rng.choice(INTROTEXTS),
        "NOTE": rng.choice(("", "", "Vielen Dank für Ihr Vertrauen!", "Zahlbar ohne Abzug.")),
        "PAID_DATE": core["PAID_DATE"],
        "IS_CANCELED": core["IS_CANCELED"],
        "INVOICE_DATE": core["INVOICE_DATE"],
        "DUE_DATE": core["DUE_DATE"],
        **_service_period(rng, day, 0.3),
        "PAYMENT_INFO": PAYMENT_INFOS.get(payment_type, ""),
        "PAYMENTS": _payments(rng, i, core["PAID_DATE"], total, body["currency"], payment_type),
        "COMMENT_": "",
        "COMMENTS": _comments(rng, day),
        "DAYS_FOR_PAYMENT": customer.get("DAYS_FOR_PAYMENT", "14"),
        "AFFILIATE": "",
        "REFERENCED_INVOICE_ID": str(ds.pk_for("invoice.get", max(i - 3, 0))) if sign < 0 else "",
        "LASTUPDATE": last_update(rng, max(day, paid_floor), FIXED_END),
        "DOCUMENT_URL": document,
        "DETAILS_URL": details if day.year >= 2025 else "",  # field added in 2025 (PHP#63)
        "CREATED": _created(rng, day),
        "EU_DELIVERY": "1"
        if customer.get("COUNTRY_CODE") == "AT" and customer.get("VAT_ID")
        else "0",
        "IS_GROSS": "1" if rng.random() < 0.05 else "0",
        # Read by the PHP SDK's InvoiceEntity, undocumented: sent empty, as FastBill's "nothing".
        "VAT_CASE": "",
        "START_DATE": ZERO_DATE,
        "END_DATE": ZERO_DATE,
    }
    record["STATE"] = invoice_state(record)
    _complete_document(record, customer, rng)
    if ds.edition == "automatic":
        _automatic_invoice_fields(record, core, rng)
    return record


def _automatic_invoice_fields(record: Record, core: Record, rng: random.Random) -> None:
    for pro_only in ("PROJECT_ID", "INVOICE_TITLE", "NOTE", "SERVICE_PERIOD_START",
                     "SERVICE_PERIOD_END", "COMMENT_", "COMMENTS", "AFFILIATE",
                     "REFERENCED_INVOICE_ID", "REFERENCE_INVOICE_ID", "DETAILS_URL", "BANK_IBAN",
                     "BANK_BIC", "BANK_ACCOUNT_MANDATE_REFERENCE", "MANDATE_REFERENCE",
                     "BUYER_REFERENCE", "SECONDARY_ADDRESS", "ACADEMIC_DEGREE", "WEBSITE",
                     "STATUS", "CONTACT_ID", "VAT_CASE", "START_DATE", "END_DATE"):  # fmt: skip
        record.pop(pro_only, None)
    record["SUBSCRIPTION_ID"] = core["SUBSCRIPTION_ID"]
    counter = str(rng.randint(1, 24)) if core["SUBSCRIPTION_ID"] else "0"
    record["SUBSCRIPTION_INVOICE_COUNTER"] = counter
    record["DOCUMENT_URL"] = str(record["DOCUMENT_URL"]).replace(
        "my.fastbill", "automatic.fastbill"
    )
    if rng.random() < 0.03:
        record["CURRENCY_CODE"] = 1  # Automatic may send the numeric currency code (1 = EUR)


def _optional_project_id(ds: Dataset, rng: random.Random) -> str:
    if ds.edition != "pro" or rng.random() < 0.7:
        return "0"
    return str(ds.pk_for("project.get", rng.randrange(ds.base_counts["project.get"])))


def _core_revenue(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    days = rng.choice((14, 14, 30))
    return {
        "INVOICE_ID": str(ds.pk_for("revenue.get", i)),
        "TYPE": "credit" if rng.random() < 0.06 else "outgoing",
        "CUSTOMER_ID": str(ds.pk_for("customer.get", rng.randrange(ds.customer_count()))),
        "INVOICE_NUMBER": f"E-{when.day.year}-{rng.randint(100, 999)}",
        "INVOICE_DATE": when.day.isoformat(),
        "DUE_DATE": fmt_dt(when.day + timedelta(days=days)),
        "PAID_DATE": _paid_date(rng, when, days, 0.9),
        "IS_CANCELED": "1" if rng.random() < 0.02 else "0",
    }


# Field order of the revenue.get doc page (seed 001), plus PAYMENTS.
REVENUE_FIELDS = (
    "INVOICE_ID", "TYPE", "CUSTOMER_ID", "CUSTOMER_NUMBER", "CUSTOMER_COSTCENTER_ID",
    "PROJECT_ID", "CURRENCY_CODE", "DELIVERY_DATE", "INVOICE_TITLE", "CASH_DISCOUNT_PERCENT",
    "CASH_DISCOUNT_DAYS", "SUB_TOTAL", "VAT_TOTAL", "VAT_ITEMS", "ITEMS", "TOTAL", "ORGANIZATION",
    "SALUTATION", "FIRST_NAME", "LAST_NAME", "ADDRESS", "ADDRESS_2", "ZIPCODE", "CITY",
    "PAYMENT_TYPE", "BANK_NAME", "BANK_ACCOUNT_NUMBER", "BANK_CODE", "BANK_ACCOUNT_OWNER",
    "BANK_IBAN", "BANK_BIC", "COMMENTS", "COUNTRY_CODE", "VAT_ID", "TEMPLATE_ID",
    "INVOICE_NUMBER", "INTROTEXT", "PAID_DATE", "IS_CANCELED", "INVOICE_DATE", "DUE_DATE",
    "PAYMENT_INFO", "PAYMENTS", "LASTUPDATE", "DOCUMENT_URL",
)  # fmt: skip


def _build_revenue(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    record = _build_invoice(ds, core, rng, i, item_ids=510_000)
    for invoice_only in ("VAT_CASE", "START_DATE", "END_DATE"):  # read on invoices only (PHP SDK)
        record.pop(invoice_only)
    revenue = {key: record[key] for key in REVENUE_FIELDS}
    revenue.update((key, value) for key, value in record.items() if key not in revenue)
    revenue["CUSTOMER_COSTCENTER_ID"] = rng.choice(("0", "0", "12", "15"))
    return revenue


def _core_recurring(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    return {
        "INVOICE_ID": str(ds.pk_for("recurring.get", i)),
        "CUSTOMER_ID": str(ds.pk_for("customer.get", rng.randrange(ds.customer_count()))),
        "START_DATE": when.day.isoformat(),
    }


def _build_recurring(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    body = _document_body(ds, core, rng, i, 610_000)
    customer = body["customer"]
    day = date.fromisoformat(core["START_DATE"])
    occurrences = rng.choice(("0", "0", "12", "24", "6"))  # (sic) OCCURENCES; "0" = no end
    frequency = rng.choice(RECURRING_FREQUENCIES)
    end = day + timedelta(days=int(RECURRING_DAYS[frequency] * int(occurrences)))
    record: Record = {
        "INVOICE_ID": maybe_int(rng, core["INVOICE_ID"]),
        "TYPE": "outgoing",
        "CUSTOMER_ID": core["CUSTOMER_ID"],
        "CUSTOMER_NUMBER": customer.get("CUSTOMER_NUMBER", ""),
        "CUSTOMER_COSTCENTER_ID": "0",
        "PROJECT_ID": _optional_project_id(ds, rng),
        "CURRENCY_CODE": body["currency"],
        "TEMPLATE_ID": ds.random_template_id(rng),
        "INVOICE_TITLE": rng.choice(("Wartungsvertrag", "Hosting", "Lizenzgebühr", "")),
        "INTROTEXT": rng.choice(INTROTEXTS),
        "DELIVERY_DATE": "",
        "CASH_DISCOUNT_PERCENT": "0.00",
        "CASH_DISCOUNT_DAYS": "0",
        "SUB_TOTAL": num(body["sub_total"]),
        "VAT_TOTAL": num(body["vat_total"]),
        "VAT_ITEMS": quirky_list(rng, body["vat_items"]),
        "ITEMS": quirky_list(rng, body["items"]),
        "TOTAL": num(body["sub_total"] + body["vat_total"]),
        **_address_of(customer),
        "PAYMENT_TYPE": str(customer.get("PAYMENT_TYPE", "1")),
        "START_DATE": core["START_DATE"],
        "END_DATE": ZERO_DATE if occurrences == "0" else end.isoformat(),
        "FREQUENCY": frequency,
        "OCCURENCES": occurrences,
        "OUTPUT_TYPE": rng.choice(("draft", "outgoing", "email")),
        "EMAIL_NOTIFY": rng.choice(("0", "1")),
        "DAYS_FOR_PAYMENT": customer.get("DAYS_FOR_PAYMENT", "14"),
        "INVOICE_DATE": day.isoformat(),
        "CREATED": _created(rng, day),
        "LASTUPDATE": last_update(rng, day, FIXED_END),
    }
    return _complete_document(record, customer, rng)


def _core_estimate(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    state["n"] = state.get("n", 0) + 1
    return {
        "ESTIMATE_ID": str(ds.pk_for("estimate.get", i)),
        "ESTIMATE_NUMBER": f"A-{when.day.year}-{state['n']:03d}",
        "CUSTOMER_ID": str(ds.pk_for("customer.get", rng.randrange(ds.customer_count()))),
        "ESTIMATE_DATE": when.day.isoformat(),
    }


def _build_estimate(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    body = _document_body(ds, core, rng, i, 810_000)
    customer = body["customer"]
    day = date.fromisoformat(core["ESTIMATE_DATE"])
    for item in body["items"]:  # the PHP SDK reads ESTIMATE_ITEM_ID (2025): which one, unknown
        item["ESTIMATE_ITEM_ID"] = item["INVOICE_ITEM_ID"]
    # a=created b=sent c=negotiation d=accepted e=rejected f=invoiced; old ones are settled
    state = rng.choice("abc") if (FIXED_END - day).days < 60 else rng.choice("bdddeeff")
    record: Record = {
        "ESTIMATE_ID": maybe_int(rng, core["ESTIMATE_ID"]),
        "ESTIMATE_NUMBER": core["ESTIMATE_NUMBER"],
        "STATE": state,
        "CUSTOMER_ID": core["CUSTOMER_ID"],
        "CUSTOMER_NUMBER": customer.get("CUSTOMER_NUMBER", ""),
        "CUSTOMER_COSTCENTER_ID": "0",
        "PROJECT_ID": _optional_project_id(ds, rng),
        "CURRENCY_CODE": body["currency"],
        "TEMPLATE_ID": ds.random_template_id(rng),
        "INTROTEXT": rng.choice(ESTIMATE_INTROS),
        "ESTIMATE_DATE": core["ESTIMATE_DATE"],
        "DUE_DATE": fmt_dt(day + timedelta(days=30)),
        **_address_of(customer),
        "SUB_TOTAL": num(body["sub_total"]),
        "VAT_TOTAL": num(body["vat_total"]),
        "VAT_ITEMS": quirky_list(rng, body["vat_items"]),
        "ITEMS": quirky_list(rng, body["items"]),
        "TOTAL": num(body["sub_total"] + body["vat_total"]),
        "NOTE": rng.choice(("", "Angebot gültig 30 Tage.", "Preise zzgl. Anfahrt nach Wien.")),
        "DOCUMENT_URL": f"https://my.fastbill.com/download/{token(ds.seed, 'estimate', i)}",
        "CREATED": _created(rng, day),
        "LASTUPDATE": last_update(rng, day, FIXED_END),
    }
    # The template's stable hash beside its ID (PHP SDK 2025; the ID changes when it is edited).
    record["TEMPLATE_HASH"] = ds.template_hash(str(record["TEMPLATE_ID"]))
    if state == "f":  # invoiced: points at an invoice
        invoice = rng.randrange(ds.base_counts["invoice.get"])
        record["INVOICE_ID"] = str(ds.pk_for("invoice.get", invoice))
    return _complete_document(record, customer, rng)


# ---------------------------------------------------------------------------------------------
# Expenses


def _core_expense(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    days = rng.choice((0, 7, 14, 14, 30))
    return {
        "INVOICE_ID": str(ds.pk_for("expense.get", i)),
        "INVOICE_NUMBER": rng.choice(("RE-", "R", "", "2024/")) + str(rng.randint(1000, 999_999)),
        "INVOICE_DATE": when.day.isoformat(),
        "DUE_DATE": fmt_dt(when.day + timedelta(days=days)),
        "PAID_DATE": _paid_date(rng, when, days, 0.9),
    }


def _build_expense(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    supplier, category, street, zipcode, city, country = rng.choice(EXPENSE_SUPPLIERS)
    party = {
        "ADDRESS": street,
        "ZIPCODE": zipcode,
        "CITY": city,
        "COUNTRY_CODE": country,
        "VAT_ID": f"{country}{int(token(supplier)[:8], 16) % 10**9:09d}",
        "EMAIL": f"rechnung@{ascii_slug(supplier.split(' ')[0])}.example",
        "PAYMENT_TYPE": rng.choice(("1", "2", "6")),
    }
    items = _items(rng, 920_000 + i * 5, rng.choice((1, 1, 1, 2, 3)), 19.0, 1, "EXPENSE_ITEM_ID")
    for item in items:  # expense items carry NET_VALUE (PHP ExpenseItemEntity)
        item["NET_VALUE"] = item["COMPLETE_NET"]
        item["DESCRIPTION"] = f"{category}: {item['DESCRIPTION']}"
    sub_total = sum(float(item["COMPLETE_NET"]) for item in items)
    vat_total = sum(float(item["VAT_VALUE"]) for item in items)
    day = date.fromisoformat(core["INVOICE_DATE"])
    paid = core["PAID_DATE"]
    floor = day if is_zero_date(paid) else date.fromisoformat(paid[:10])
    record: Record = {
        "INVOICE_ID": maybe_int(rng, core["INVOICE_ID"]),
        "ORGANIZATION": supplier,
        "INVOICE_NUMBER": core["INVOICE_NUMBER"],
        "INVOICE_DATE": core["INVOICE_DATE"],
        **_service_period(rng, day, 0.2),
        "DUE_DATE": core["DUE_DATE"],
        "PROJECT_ID": _optional_project_id(ds, rng),
        "CUSTOMER_ID": "0",
        "SUB_TOTAL": num(sub_total),
        "VAT_TOTAL": num(vat_total),
        "TOTAL": num(sub_total + vat_total),
        "NOTE": rng.choice(("", "", "Beleg liegt im Ordner Q" + str((day.month - 1) // 3 + 1))),
        "COMMENT": "",
        "COMMENTS": _comments(rng, day),
        "VAT_ITEMS": quirky_list(rng, _vat_items(rng, items)),
        "ITEMS": quirky_list(rng, items),
        "PAID_DATE": paid,
        "CURRENCY_CODE": "EUR",
        "CATEGORY": category,
        "PAYMENT_INFO": rng.choice(("", "Lastschrift", "Kreditkarte", "Überweisung")),
        "DOCUMENT_URL": f"https://my.fastbill.com/download/{token(ds.seed, 'expense', i)}",
        "STATE": "unpaid" if is_zero_date(paid) else "paid",
        "CREATED": _created(rng, day),
        "LASTUPDATE": last_update(rng, floor, FIXED_END),
    }
    return _complete_document(record, party, rng)


# ---------------------------------------------------------------------------------------------
# Articles, projects, time entries, templates (Pro)


def _core_article_pro(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    return {"ARTICLE_ID": str(ds.pk_for("article.get", i)), "ARTICLE_NUMBER": str(i + 1)}


def _build_article_pro(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    count = ds.base_counts["article.get"]
    created = FIXED_START + timedelta(days=(FIXED_END - FIXED_START).days * min(i, count) // count)
    created_at = fmt_dt(created, office_seconds(rng))
    desc, unit, low, high, vat = SERVICES_CATALOG[i % len(SERVICES_CATALOG)]
    title = (
        desc
        if i < len(SERVICES_CATALOG)
        else f"{desc} \u2013 Variante {i // len(SERVICES_CATALOG) + 1}"
    )
    return {
        "ARTICLE_ID": maybe_int(rng, core["ARTICLE_ID"]),
        "ARTICLE_NUMBER": core["ARTICLE_NUMBER"],
        "TITLE": title,
        "DESCRIPTION": rng.choice(("", f"{title} gemäß Leistungsbeschreibung", "inkl. Anfahrt")),
        "UNIT": unit,
        "UNIT_PRICE": amount_text(rng, round(rng.uniform(low, high), 2), 4, 0.1),
        "CURRENCY_CODE": "EUR",
        "VAT_PERCENT": f"{vat:.2f}",
        "IS_GROSS": "1" if rng.random() < 0.1 else "0",
        "TAGS": rng.choice(("", "Dienstleistung", "Ware")),
        # Article type (PHP SDK 2025): a service or goods; derived, no random draw.
        "TYPE": "service" if unit in SERVICE_UNITS else "product",
        "CREATED": created_at,
        "LASTUPDATE": last_update(rng, created, FIXED_END, created_at),
    }


def _core_project(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    return {
        "PROJECT_ID": str(ds.pk_for("project.get", i)),
        "PROJECT_NUMBER": f"P-{when.day.year}-{i + 1:03d}",
        "CUSTOMER_ID": str(ds.pk_for("customer.get", ds.project_customer(i))),
        "START_DATE": when.day.isoformat(),
    }


def _build_project(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    customer = ds.customer_snapshot(core["CUSTOMER_ID"])
    who = (
        customer.get("ORGANIZATION")
        or f"{customer.get('FIRST_NAME', '')} {customer.get('LAST_NAME', '')}"
    )
    start = date.fromisoformat(core["START_DATE"])
    ended = rng.random() < 0.4
    hour_price = rng.choice((65.0, 75.0, 85.0, 95.0, 120.0))
    budgeted = rng.random() < 0.6
    tasks = [
        {
            "TASK_ID": str(task_id),
            "TASK_NUMBER": str(t + 1),
            "TASK_NAME": TASK_NAMES[(i + t) % len(TASK_NAMES)],
            "DESCRIPTION": rng.choice(("", "laut Angebot", "nach Aufwand")),
            "STATUS": "closed" if ended else rng.choice(("open", "open", "closed")),
            "PRIORITY": rng.choice(("1", "2", "3")),
            "HOUR_PRICE": f"{hour_price:.2f}",
            "CURRENCY_CODE": customer.get("CURRENCY_CODE", "EUR"),
            "VAT_PERCENT": "19.00",
        }
        for t, task_id in enumerate(ds.project_task_ids(i))
    ]
    end = min(start + timedelta(days=rng.randint(20, 200)), FIXED_END)
    created_at = fmt_dt(start, office_seconds(rng))
    return {
        "PROJECT_ID": maybe_int(rng, core["PROJECT_ID"]),
        "PROJECT_NAME": f"{PROJECT_NAMES[i % len(PROJECT_NAMES)]} {who}".strip(),
        "PROJECT_NUMBER": core["PROJECT_NUMBER"],
        "CUSTOMER_ID": core["CUSTOMER_ID"],
        "CUSTOMER_COSTCENTER_ID": "0",
        "HOUR_PRICE": f"{hour_price:.2f}",
        "CURRENCY_CODE": customer.get("CURRENCY_CODE", "EUR"),
        "VAT_PERCENT": "19.00",
        "START_DATE": core["START_DATE"],
        "END_DATE": end.isoformat() if ended else ZERO_DATE,
        "BUDGET": f"{rng.randint(20, 400) * 100:.2f}" if budgeted else "",
        "BUDGET_TYPE": rng.choice(("hours", "amount")) if budgeted else "",
        "DESCRIPTION": rng.choice(("", "Umsetzung laut Angebot", "Abrechnung nach Aufwand")),
        "STATUS": "closed" if ended else "open",
        "TASKS": quirky_list(rng, tasks),
        "CREATED": created_at,
        "LASTUPDATE": last_update(rng, end if ended else start, FIXED_END, created_at),
    }


def _core_time(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    p = rng.randrange(ds.base_counts["project.get"])
    return {
        "TIME_ID": str(ds.pk_for("time.get", i)),
        "CUSTOMER_ID": str(ds.pk_for("customer.get", ds.project_customer(p))),
        "PROJECT_ID": str(ds.pk_for("project.get", p)),
        "TASK_ID": str(rng.choice(ds.project_task_ids(p))),
        "DATE": fmt_dt(when.day),  # a datetime with zero time, as in the PHP SDK fixture
    }


def _build_time(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    day = date.fromisoformat(core["DATE"][:10])
    minutes = rng.choice((15, 30, 45, 60, 90, 120, 180, 240, 480))
    start = rng.randint(8 * 4, 16 * 4) * 900
    manual = rng.random() < 0.15  # only minutes entered: FastBill stores zero start/end times
    billed = (FIXED_END - day).days > 60 and rng.random() < 0.7
    invoice = rng.randrange(ds.base_counts["invoice.get"])
    return {
        "TIME_ID": maybe_int(rng, core["TIME_ID"]),
        "TASK_ID": core["TASK_ID"],
        "CUSTOMER_ID": core["CUSTOMER_ID"],
        "PROJECT_ID": core["PROJECT_ID"],
        "INVOICE_ID": str(ds.pk_for("invoice.get", invoice)) if billed else "0",
        "DATE": core["DATE"],
        "START_TIME": ZERO_DATETIME if manual else fmt_dt(day, start),
        "END_TIME": ZERO_DATETIME if manual else fmt_dt(day, start + minutes * 60),
        "MINUTES": str(minutes),
        "BILLABLE_MINUTES": str(minutes if rng.random() < 0.8 else minutes // 2),
        "COMMENT": rng.choice(TIME_COMMENTS),
        "IS_CALCULATED": "1" if billed else "0",
        "BILLED": "1" if billed else "0",  # undocumented, seen in PHP#61
    }


def _core_template(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    return {"TEMPLATE_ID": str(ds.template_id(i))}


def _build_template(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    name = PRO_TEMPLATES[i] if i < len(PRO_TEMPLATES) else f"Vorlage {i + 1}"
    record: Record = {
        "TEMPLATE_ID": int(core["TEMPLATE_ID"]),
        "TEMPLATE_NAME": name,
    }  # int (WEL, GO1)
    if ds.edition == "pro":
        record["TEMPLATE_HASH"] = token(ds.seed, "template", i)[:32]
    return record


# ---------------------------------------------------------------------------------------------
# Automatic: articles, subscriptions, coupons


def _core_article_automatic(
    ds: Dataset, rng: random.Random, i: int, when: When, state: dict
) -> Record:
    return {"ARTICLE_NUMBER": ds.automatic_article(i)[0]}


def _build_article_automatic(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    number, title, price, addon = ds.automatic_article(i)
    record: Record = {
        "ARTICLE_NUMBER": number,
        "TITLE": title,
        "DESCRIPTION": rng.choice(
            ("", "3 Nutzer, 1 GB Dokumenten-Speicher", "inkl. Support per E-Mail")
        ),
        "UNIT_PRICE": f"{price:.4f}",
        "ALLOW_MULTIPLE": "1" if addon else "0",
        "IS_ADDON": "1" if addon else "0",
        "CURRENCY_CODE": "EUR",
        "VAT_PERCENT": "19.00",
        "SETUP_FEE": rng.choice(("0.0000", "0.0000", "2.5000", "49.0000")),
        "SUBSCRIPTION_INTERVAL": rng.choice(("1 month", "1 month", "3 month", "1 year")),
        "SUBSCRIPTION_NUMBER_EVENTS": "0",
        "SUBSCRIPTION_TRIAL": rng.choice(("0 day", "14 day", "1 month")),
        "SUBSCRIPTION_DURATION": rng.choice(("0 month", "12 month")),
        "SUBSCRIPTION_DURATION_FOLLOW": rng.choice(("0 month", "1 month", "12 month")),
        "SUBSCRIPTION_CANCELLATION": rng.choice(("14 day", "1 month")),
        "RETURN_URL_SUCCESS": "",
        "RETURN_URL_CANCEL": "",
        "CHECKOUT_URL": (
            "https://automatic.fastbill.com/index.php?cmd=1001"
            f"&token={token(ds.seed, 'article', number)[:32]}&productId={number}"
        ),
    }
    if addon:
        plans = [a[0] for a in ds.automatic_articles if not a[3]]
        record["ASSIGNED_ARTICLES"] = ",".join(plans[:4])
    return record


def _core_subscription(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    return {
        "SUBSCRIPTION_ID": str(ds.pk_for("subscription.get", i)),
        "CUSTOMER_ID": str(ds.pk_for("customer.get", rng.randrange(ds.customer_count()))),
        "START": fmt_dt(when.day, office_seconds(rng)),
    }


def _booked_article(article: tuple[str, str, float, bool], quantity: str) -> Record:
    number, title, price, _ = article
    return {"ARTICLE_NUMBER": number, "TITLE": title, "DESCRIPTION": "", "QUANTITY": quantity,
            "UNIT_PRICE": f"{price:.4f}", "CURRENCY_CODE": "EUR"}  # fmt: skip


def _whole_months(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and min(start.day, 28) > end.day:
        months -= 1
    return max(months, 0)


def _months_after(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, min(day.day, 28))


def _build_subscription(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    start = date.fromisoformat(core["START"][:10])
    clock = core["START"][11:]
    customer = ds.customer_snapshot(core["CUSTOMER_ID"])
    articles = ds.automatic_articles
    plans = [a for a in articles if not a[3]] or articles
    addons = [a for a in articles if a[3]]
    plan = rng.choice(plans)
    roll = rng.random()
    status = (
        "active"
        if roll < 0.65
        else ("trial" if roll < 0.75 else ("canceled" if roll < 0.95 else "expired"))
    )
    elapsed = _whole_months(start, FIXED_END)
    canceled = status in ("canceled", "expired")
    cancel_day = _months_after(start, rng.randint(0, elapsed)) if canceled else None
    last_event = cancel_day or (_months_after(start, elapsed) if elapsed else start)
    booked = [_booked_article(a, str(rng.randint(1, 5))) for a in addons[:3] if rng.random() < 0.3]
    x_attributes: Any = rng.choice(([], {}, {"seats": str(rng.randint(1, 20)), "region": "Köln"}))
    return {
        "SUBSCRIPTION_ID": maybe_int(rng, core["SUBSCRIPTION_ID"], 0.1),  # ints in 2015 (WF)
        "CUSTOMER_ID": core["CUSTOMER_ID"],
        "START": core["START"],
        "NEXT_EVENT": ZERO_DATETIME if canceled else f"{_months_after(last_event, 1)} {clock}",
        "LAST_EVENT": f"{last_event} {clock}",
        "CANCELLATION_DATE": f"{cancel_day} {clock}" if cancel_day else ZERO_DATETIME,
        "EXPIRATION_DATE": f"{_months_after(cancel_day, 1)} {clock}"
        if cancel_day
        else ZERO_DATETIME,
        "STATUS": status,
        "ARTICLE_NUMBER": plan[0],
        "SUBSCRIPTION_EXT_UID": f"project-{rng.randint(100, 999)}" if rng.random() < 0.3 else "",
        "HASH": token(ds.seed, "subscription", i)[:32],
        "X_ATTRIBUTES": x_attributes,
        "QUANTITY": str(rng.choice((1, 1, 1, 2, 5))),
        "COUPON": rng.choice(COUPON_CODES) if rng.random() < 0.1 else "",
        "PLAN": _booked_article(plan, "1"),
        "ADDONS": quirky_list(rng, booked),
        "CUSTOMER_EXT_UID": customer.get("CUSTOMER_EXT_UID", ""),
        "INVOICE_TITLE": rng.choice(("", "", f"Abo {plan[1]}")),
        "LASTUPDATE": f"{last_event} {clock}",  # the last billing run touched it
    }


def _core_coupon(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    code = COUPON_CODES[i] if i < len(COUPON_CODES) else f"AKTION{i:03d}"
    return {"CODE": code, "VALID_FROM": when.day.isoformat()}


def _build_coupon(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    start = date.fromisoformat(core["VALID_FROM"])
    percent = rng.choice((5, 10, 15, 20, 25))
    plans = [a[0] for a in ds.automatic_articles]
    return {
        "CODE": core["CODE"],
        "TITLE": rng.choice(("FastBill Kampagne", "Sommeraktion", "Neukundenrabatt", "Treuebonus")),
        # A localised string with a decimal comma, as in FBA18.
        "DISCOUNT": f"{percent},00%" if rng.random() < 0.8 else f"{percent},00 EUR",
        "DISCOUNT_PERIOD": rng.choice(("1 event", "3 event", "12 event", "unlimited")),
        "VALID_FROM": core["VALID_FROM"],
        "VALID_TO": (start + timedelta(days=rng.choice((30, 60, 90, 365)))).isoformat(),
        "ASSIGNED_ARTICLES": ",".join(rng.sample(plans, min(len(plans), rng.randint(1, 6)))),
    }


# ---------------------------------------------------------------------------------------------
# Pro: the document store (document.get) and the registered webhooks (webhook.get)

# (FOLDER_ID, NAME, PARENTFOLDER_ID, CREATED): a small, fixed folder tree; "0" is the top level.
DOCUMENT_FOLDERS = (
    ("12", "Belege", "0", "2023-01-09 10:12:00"),
    ("13", "Verträge", "0", "2023-01-09 10:13:30"),
    ("14", "Belege 2025", "12", "2025-01-02 08:45:10"),
    ("15", "Steuerberater", "0", ""),  # an old folder without a creation date
    ("16", "Quittungen & Bons", "14", "2025-03-17 16:20:05"),
)
DOCUMENT_KINDS = (("pdf", "Beleg"), ("jpg", "Quittung"), ("png", "Scan"), ("pdf", "Vertrag"),
                  ("xlsx", "Fahrtenbuch"))  # fmt: skip
WEBHOOK_EVENTS = ("customer.created", "customer.changed", "invoice.created", "invoice.completed",
                  "invoice.payment", "estimate.created", "contact.created")  # fmt: skip


def _core_document(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    folder = rng.choice(DOCUMENT_FOLDERS)[0] if rng.random() < 0.85 else "0"
    return {"DOCUMENT_ID": str(ds.pk_for("document.get", i)), "FOLDER_ID": folder,
            "DATE": when.day.isoformat()}  # fmt: skip


def _build_document(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    kind, word = rng.choice(DOCUMENT_KINDS)
    day = date.fromisoformat(core["DATE"])
    return {
        "DOCUMENT_ID": core["DOCUMENT_ID"],
        "FOLDER_ID": core["FOLDER_ID"],
        "TYPE": kind,
        "TITLE": f"{word} {MONTHS_DE[day.month - 1]} {day.year} Nr. {i + 1}",
        "DATE": core["DATE"] if rng.random() < 0.95 else ZERO_DATE,
        "NOTE": rng.choice(("", "", "Original beim Steuerberater.", "Kopie für die Ablage")),
        "DOCUMENT_URL": f"https://my.fastbill.com/download/{token(ds.seed, 'document', i)}",
    }


def document_folders(ds: Dataset) -> list[Record]:
    """FOLDERS of document.get, as FastBill sends them (strings); CONTENT_COUNT counts the
    documents filed directly in each folder."""
    filed = ds.table("document.get").cols["FOLDER_ID"]
    return [
        {
            "FOLDER_ID": folder,
            "NAME": name,
            "PARENTFOLDER_ID": parent,
            "CREATED": created,
            "CONTENT_COUNT": str(filed.count(folder)),
        }
        for folder, name, parent, created in DOCUMENT_FOLDERS
    ]


def stream_counts(counts: Mapping[str, int], streams: Iterable[str]) -> dict[str, int]:
    """How many records each connector stream should get from a sandbox with these service
    counts (FastbillSandbox.counts()): its service's count, except document_folders, which are
    the fixed folders beside document.get's documents."""
    return {
        stream: len(DOCUMENT_FOLDERS)
        if stream == "document_folders"
        else counts[STREAM_SERVICES[stream]]
        for stream in streams
    }


def _core_webhook(ds: Dataset, rng: random.Random, i: int, when: When, state: dict) -> Record:
    return {"WEBHOOK_ID": str(ds.pk_for("webhook.get", i))}


def _build_webhook(ds: Dataset, core: Record, rng: random.Random, i: int) -> Record:
    events = sorted(rng.sample(WEBHOOK_EVENTS, rng.randint(1, 4)), key=WEBHOOK_EVENTS.index)
    return {
        "WEBHOOK_ID": core["WEBHOOK_ID"],  # a string here, an integer in webhook.create's answer
        "ENDPOINT": f"https://hooks.example.com/fastbill/{token(ds.seed, 'webhook', i)[:12]}",
        "TYPE": rng.choice(("json", "json", "xml")),
        "EVENTS": ",".join(events),
    }


PRO_DEFS: dict[str, TableDef] = {
    "customer.get": TableDef("CUSTOMER_ID", _core_customer, _build_customer),
    "contact.get": TableDef("CONTACT_ID", _core_contact, _build_contact),
    "invoice.get": TableDef("INVOICE_ID", _core_invoice, _build_invoice),
    "recurring.get": TableDef("INVOICE_ID", _core_recurring, _build_recurring),
    "revenue.get": TableDef("INVOICE_ID", _core_revenue, _build_revenue),
    "expense.get": TableDef("INVOICE_ID", _core_expense, _build_expense),
    "article.get": TableDef("ARTICLE_ID", _core_article_pro, _build_article_pro),
    "project.get": TableDef("PROJECT_ID", _core_project, _build_project),
    "time.get": TableDef("TIME_ID", _core_time, _build_time, TIME_START),
    "estimate.get": TableDef("ESTIMATE_ID", _core_estimate, _build_estimate),
    "template.get": TableDef("TEMPLATE_ID", _core_template, _build_template),
    "document.get": TableDef("DOCUMENT_ID", _core_document, _build_document),
    "webhook.get": TableDef("WEBHOOK_ID", _core_webhook, _build_webhook),
}
AUTOMATIC_DEFS: dict[str, TableDef] = {
    "customer.get": TableDef("CUSTOMER_ID", _core_customer, _build_customer),
    "subscription.get": TableDef("SUBSCRIPTION_ID", _core_subscription, _build_subscription),
    "invoice.get": TableDef("INVOICE_ID", _core_invoice, _build_invoice),
    "article.get": TableDef("ARTICLE_NUMBER", _core_article_automatic, _build_article_automatic),
    "coupon.get": TableDef("CODE", _core_coupon, _build_coupon),
    "template.get": TableDef("TEMPLATE_ID", _core_template, _build_template),
}
