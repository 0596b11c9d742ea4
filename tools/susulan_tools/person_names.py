"""Write ``pipeline/data/person-names.txt``: the words of Faker's Indonesian person names, for the letter model.

Faker (MIT licence) is not a dependency: download it once and point this at its ``id_ID`` person
provider, e.g. ``pip download --no-deps faker==40.63.0 && unzip faker-*.whl 'faker/*'``, then
``python -m susulan_tools.person_names faker/providers/person/id_ID/__init__.py``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "pipeline" / "data" / "person-names.txt"
LISTS = ("first_names_male", "first_names_female", "last_names_male", "last_names_female")
HEADER = """\
# Words of Indonesian person names (first and last names of Faker's id_ID person provider,
# faker 40.63.0, faker/providers/person/id_ID/__init__.py), upper case, one per line.
# Used by pipeline/recognize/spelling.py for the letter model; rebuilt by
# `python -m susulan_tools.person_names <that file>`.
#
# Copyright (c) 2012 Daniele Faraglia
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in
# all copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
# THE SOFTWARE.
"""


def words(provider: Path) -> list[str]:
    """Distinct upper-case words of the provider's first and last name lists."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(provider.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in LISTS:
            for name in ast.literal_eval(node.value):
                found.update(re.findall(r"[A-Z]+", name.upper()))
    return sorted(found)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    found = words(Path(argv[0]))
    OUT.write_text(HEADER + "\n".join(found) + "\n", encoding="utf-8")
    print(f"wrote {len(found)} words to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
