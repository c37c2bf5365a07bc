"""``python -m aion_cli``: the `aion` command."""

from aion_cli.main import run

if __name__ == "__main__":
    run()
