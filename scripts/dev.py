"""Bootstrap and run Chaski from a fresh clone with nothing but Python 3.11+.

`python3 scripts/dev.py run` installs the runtime lock and starts the bot;
`python3 scripts/dev.py test` installs the development lock and runs every CI gate.
This file only checks the interpreter, in syntax that even Python 2.7 parses, so that
an old `python3` gets one clear line instead of a SyntaxError; the work is in devtool.py.
"""

import os
import sys

if sys.version_info < (3, 11):  # noqa: UP036 - the point of this file
    found = ".".join(str(part) for part in sys.version_info[:3])
    sys.stderr.write(
        "dev.py: Chaski needs Python 3.11 or newer; this is Python " + found + ".\n"
        "Install Python 3.11+ and run this command with it"
        " (e.g. python3.11 scripts/dev.py ...).\n"
    )
    sys.exit(1)

# os.path, not pathlib: kept to what every Python 3 has, like the lines above.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # noqa: PTH100, PTH120
import devtool

if __name__ == "__main__":
    sys.exit(devtool.main(sys.argv[1:]))
