"""`FtpSession._command` calls `mask_argument` only for `MASKED_VERBS`: for any other verb
the argument must come back unchanged, and its one-line shortcut reads reply codes from a
table that must agree with `int`."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ftptrace.ftp import codec

verbs = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=16)


@given(verb=verbs, arg=st.text(max_size=30))
def test_unmasked_verbs_keep_their_argument(verb: str, arg: str) -> None:
    if verb not in codec.MASKED_VERBS:
        assert codec.mask_argument(verb, arg) == arg


def test_masked_verbs_hide_a_secret() -> None:
    for verb in codec.SECRET_VERBS:
        assert codec.mask_argument(verb, "hunter2") == codec.MASK
    assert codec.mask_argument("AUTH", "hunter2") == codec.MASK


@given(line=st.from_regex(rb"[1-6][0-9][0-9] [ -~]{0,20}\r\n", fullmatch=True))
def test_reply_code_table_agrees_with_int(line: bytes) -> None:
    reply = codec.plain_reply(line)
    assert reply is not None
    assert reply[0] == int(line[:3])
