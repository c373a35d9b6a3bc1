"""Offline checks of the callgrind profiler's parsing (bench/profile/instructions.py): which dump holds a
measurement, its total, and the top-function table (no valgrind needed: the inputs are callgrind's formats)."""

from __future__ import annotations

import instructions as prof
import pytest


def test_dumps_are_ordered_by_number_and_the_final_dump_is_not_one(tmp_path):
    out = tmp_path / "cg-rust.out"
    for name in ("cg-rust.out", "cg-rust.out.2", "cg-rust.out.10", "cg-rust.out.1", "cg-rust.out.log",
                 "cg-rust.outer.1"):
        (tmp_path / name).write_text("")
    assert [p.name for p in prof.dumps(out)] == ["cg-rust.out.1", "cg-rust.out.2", "cg-rust.out.10"]


def test_summary_is_the_dumps_total_and_a_dump_without_one_is_an_error(tmp_path):
    dump = tmp_path / "cg.out.1"
    dump.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 96381283\ntotals: 96381283\n")
    assert prof.summary(dump) == 96_381_283
    dump.write_text("version: 1\nevents: Ir\n")
    with pytest.raises(prof.ProfileError, match="no summary"):
        prof.summary(dump)


ANNOTATE = """\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
1,000,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                    file:function
--------------------------------------------------------------------------------
3,500,000 (350.0%)  /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/axum-0.8.9/src/util.rs:poll'2 [/bin/x]
  980,000 (98.00%)  /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/worker.rs:run [/bin/x]
  400,000 (40.00%)  /work/src/tools.rs:snippets_mcp::tools::save [/bin/x]
  120,000 (12.00%)  ./malloc/./malloc/malloc.c:_int_free [/usr/lib/x86_64-linux-gnu/libc.so.6]
"""


def test_inclusive_top_leaves_out_recursion_levels_and_shortens_paths():
    rows = prof.parse_annotate(ANNOTATE, 1_000_000, 2, inclusive=True)
    assert [r["function"] for r in rows] == ["tokio-1.54.1/src/worker.rs:run",
                                             "/work/src/tools.rs:snippets_mcp::tools::save"]
    assert rows[0]["instructions"] == 980_000 and rows[0]["share"] == pytest.approx(0.98)


def test_exclusive_top_keeps_every_row_in_order():
    rows = prof.parse_annotate(ANNOTATE, 1_000_000, 10, inclusive=False)
    assert [r["instructions"] for r in rows] == [3_500_000, 980_000, 400_000, 120_000]
    assert rows[-1]["function"] == "./malloc/./malloc/malloc.c:_int_free"
