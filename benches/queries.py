"""Prints the benchmark's query list: N WQL queries (default 200), one a line.

A fixed cycle over the inventory classes, so every client runs exactly the same
queries in the same order. Usage: queries.py [N]
"""
import sys

CYCLE = [
    "SELECT * FROM Win32_Service",
    "SELECT * FROM Win32_OperatingSystem",
    "SELECT * FROM Win32_ComputerSystem",
    "SELECT * FROM Win32_BIOS",
    "SELECT * FROM Win32_Processor",
    "SELECT * FROM Win32_LogicalDisk",
    "SELECT * FROM Win32_NetworkAdapterConfiguration",
    "SELECT * FROM Win32_QuickFixEngineering",
    "SELECT Name, StartMode, State FROM Win32_Service WHERE StartMode = 'Auto'",
    "SELECT Caption, Version, CSName FROM Win32_OperatingSystem",
]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    for i in range(n):
        print(CYCLE[i % len(CYCLE)])


if __name__ == "__main__":
    main()
