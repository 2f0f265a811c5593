#!/usr/bin/env python3
"""Top lists from callgrind_annotate output, per request (bench/profile.sh).

    hotspots.py SELF_TXT INCLUSIVE_TXT REQUESTS [get|cursor|ingest]

With LTO most code is inlined, so callgrind's "file:function" is "the
source file of the inlined code : the symbol it was inlined into". The
first list keeps that split; the second sums each symbol over its files.
Standard library only.
"""

import collections
import re
import sys

LINE = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[[^\]]*\])?$")
FILE_PREFIX = re.compile(r"^.*?\.(?:rs|c|S|h):(.*)$")
TOP = 15
# Lines in each POST of bench/ingest.lua (and of bench/profile.sh ingest).
LINES_PER_INGEST = 50


def rows(path):
    found = []
    for line in open(path):
        match = LINE.match(line)
        if match:
            found.append((int(match.group(1).replace(",", "")), match.group(2)))
    return found


def short(what):
    what = re.sub(r"^/rustc/[0-9a-f]+/library/", "std:", what)
    what = re.sub(r"^/root/\.cargo/registry/src/[^/]+/", "", what)
    what = re.sub(r"^/.*?/src/", "src/", what)
    what = re.sub(r"^\./[^:]*/", "libc:", what)
    return what


def show(title, items, total, requests):
    print("\n" + title)
    for ir, what in items:
        print("  %5.1f%%  %6d/req  %s" % (100.0 * ir / total, ir // requests, what))


def main(argv):
    self_rows, inclusive_rows, requests = rows(argv[1]), rows(argv[2]), int(argv[3])
    totals = [ir for ir, what in self_rows if what == "PROGRAM TOTALS"]
    if not totals or totals[0] == 0:
        sys.exit("hotspots.py: no instructions collected")
    total = totals[0]
    self_rows = [(ir, what) for ir, what in self_rows if what != "PROGRAM TOTALS"]
    inclusive_rows = [(ir, what) for ir, what in inclusive_rows if what != "PROGRAM TOTALS"]
    scenario = argv[4] if len(argv) > 4 else "get"
    what = {"get": "GET /sessions/{id}", "cursor": "GET /sessions/{id}/log?cursor=C",
            "ingest": "POST /sessions/{id}/log (50 text lines)"}[scenario]
    print("%s: %d user-space instructions over %d requests = %d per request"
          % (what, total, requests, total // requests))
    if scenario == "ingest":
        print("  = %d per line" % (total // (requests * LINES_PER_INGEST)))
    show("Top %d by self instructions (source file : function):" % TOP,
         [(ir, short(what)) for ir, what in self_rows[:TOP]], total, requests)
    by_symbol = collections.Counter()
    for ir, what in self_rows:
        match = FILE_PREFIX.match(what)
        by_symbol[match.group(1) if match else what] += ir
    show("Top %d by self instructions, summed per function symbol:" % TOP,
         [(ir, what) for what, ir in by_symbol.most_common(TOP)], total, requests)
    show("Top %d by inclusive instructions:" % TOP,
         [(ir, short(what)) for ir, what in inclusive_rows[:TOP]], total, requests)


if __name__ == "__main__":
    main(sys.argv)
