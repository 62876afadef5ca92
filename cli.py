"""Run the nst3d command line from a checkout: `python cli.py --help`."""

from nst3d.console import main

if __name__ == "__main__":
    main()
