"""Auto-detection of an uploaded CSV's encoding: UTF-16 and UTF-8 as before, and between GB18030 (GBK) and Big5 the
reading that gives ordinary characters, not the first codec that happens to read every byte."""

import codecs

import pytest

from infra.csv_uploads.decoding import ImportFileRefused, decode


def member_list(names, encoding):
    rows = [f"9123456{index},{name}" for index, name in enumerate(names)]
    return "\r\n".join(["phone,name", *rows, ""]).encode(encoding)


def names_of(text):
    return [line.split(",")[1] for line in text.splitlines()[1:]]


# Mainland given names use GBK characters outside GB2312 (喆 堃 赟 镕); Big5 cannot read 喆 and 堃 at all, but reads
# 赟 and 镕 (and the names around them) as nonsense, which first-success detection took for Big5.
MAINLAND_NAMES = ["陈大文", "王喆", "张堃", "李赟", "朱镕基", "刘德华"]
MAINLAND_NAMES_BIG5_CAN_MISREAD = ["陈大文", "李赟", "朱镕基", "杨赟瑶", "刘德华"]
GB2312_NAMES = ["陈大文", "李小明", "张美玲", "黄志强", "刘德华"]
HONG_KONG_NAMES = ["陳大文", "黃志強", "李嘉欣", "張學友", "周慧敏"]


@pytest.mark.parametrize(
    ("names", "codec", "detected"),
    [
        (MAINLAND_NAMES, "gbk", "gb18030"),
        (MAINLAND_NAMES_BIG5_CAN_MISREAD, "gbk", "gb18030"),
        (GB2312_NAMES, "gbk", "gb18030"),
        (HONG_KONG_NAMES, "cp950", "big5"),
        (["李赟"], "gbk", "gb18030"),
        (["朱镕基"], "gbk", "gb18030"),
        (["陳大文"], "cp950", "big5"),
        (["周慧敏"], "cp950", "big5"),
    ],
)
def test_gbk_and_big5_member_lists_are_told_apart(names, codec, detected):
    # given a member list saved by Excel on Simplified (GBK) or Traditional (Big5) Chinese Windows, long or of one name
    data = member_list(names, codec)
    if codec == "gbk":
        # (the point of the case: Big5 reads these bytes too, or cannot; either way only GB18030 is right)
        assert data.decode("gb18030") == data.decode("gbk")

    # when decoded with auto-detection
    text, used = decode(data)

    # then the encoding is the one the file was saved in, and every name reads as written
    assert used == detected
    assert names_of(text) == names


def test_the_gbk_names_big5_can_read_are_nonsense_in_big5():
    # given the mainland list whose bytes Big5 also reads (the bug: first-success detection took that reading)
    data = member_list(MAINLAND_NAMES_BIG5_CAN_MISREAD, "gbk")

    # then Big5 does read it, but not as the names, so only judging the readings can choose right
    assert names_of(data.decode("cp950")) != MAINLAND_NAMES_BIG5_CAN_MISREAD
    assert decode(data)[1] == "gb18030"


@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig"])
def test_utf8_with_or_without_bom_is_read_as_utf8(codec):
    data = member_list([*HONG_KONG_NAMES, *MAINLAND_NAMES], codec)

    text, used = decode(data)

    assert used == "utf-8"
    assert names_of(text) == [*HONG_KONG_NAMES, *MAINLAND_NAMES]


@pytest.mark.parametrize("bom", [codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])
def test_utf16_with_bom_is_read_as_utf16(bom):
    codec = "utf-16-le" if bom == codecs.BOM_UTF16_LE else "utf-16-be"
    data = bom + "phone\tname\r\n91234567\t陳大文\r\n".encode(codec)

    text, used = decode(data)

    assert used == "utf-16"
    assert text == "phone\tname\r\n91234567\t陳大文\r\n"


def test_full_width_punctuation_does_not_sway_the_choice():
    # given GBK and Big5 files whose names carry full-width punctuation (both scripts have it)
    gbk = member_list(["陈大文（店长）", "李赟，VIP"], "gbk")
    big5 = member_list(["陳大文（店長）", "黃志強，VIP"], "cp950")

    # then each is still read in its own encoding
    assert decode(gbk) == (gbk.decode("gb18030"), "gb18030")
    assert decode(big5) == (big5.decode("cp950"), "big5")


def test_a_chosen_encoding_is_used_as_chosen():
    data = member_list(["陳大文"], "cp950")

    assert decode(data, "gb18030") == (data.decode("gb18030"), "gb18030")


def test_bytes_no_candidate_reads_are_refused_naming_the_line():
    data = b"phone,name\r\n91234567,\x80\x80\r\n"

    with pytest.raises(ImportFileRefused) as refused:
        decode(data)

    assert "undecodable bytes on line 2" in str(refused.value)
