"""A stand-in service process for supervisor tests: it waits until it is signalled."""

import time

if __name__ == "__main__":
    time.sleep(600)
