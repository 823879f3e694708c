from source_fastbill.run import run

if __name__ == "__main__":
    run()
