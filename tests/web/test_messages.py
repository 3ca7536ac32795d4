"""Messages for people in the reader's language: validators' messages are Text, pages translate them."""

from __future__ import annotations

import pickle

import orjson

from onewindow.errors import Text, ValidationFailed, field_error
from onewindow.refdata import validators as v
from onewindow.web.i18n import localise, message_text


def test_a_text_is_its_english_string_everywhere_a_string_goes():
    text = v.check_port("CNXXX")
    assert isinstance(text, Text) and text == "unknown port code 'CNXXX' (not in UN/LOCODE)"
    assert orjson.loads(orjson.dumps({"msg": text})) == {"msg": "unknown port code 'CNXXX' (not in UN/LOCODE)"}
    again = pickle.loads(pickle.dumps(text))
    assert again == text and again.template == text.template and again.params == text.params


def test_braces_typed_by_a_user_stay_as_typed():
    text = v.check_param("unit", "{label}{code}")
    assert text == "unknown unit (计量单位) code '{label}{code}'"
    assert message_text(text, "zh") == "计量单位代码“{label}{code}”不存在"


def test_pages_translate_the_template_and_the_parameters_that_are_texts():
    text = v.check_port("CNXXX")
    assert message_text(text, "zh") == "口岸代码“CNXXX”不存在（不在 UN/LOCODE 中）"
    assert message_text(text, "en") == str(text)
    assert message_text("a plain message", "zh") == "a plain message"  # not a Text: shown as it is


def test_a_validation_error_is_localised_in_place():
    error = ValidationFailed([field_error(["containers", 0, "number"], v.check_container_number("CSQU3054384")),
                              field_error(["remarks"], "too long")])
    assert error.message == "2 fields are invalid"
    localise(error, "zh")
    assert error.message == "2 项填写有误"
    assert [d["msg"] for d in error.details] == ["集装箱号校验码（ISO 6346）错误", "too long"]


def test_every_validator_message_has_a_chinese_translation():
    from onewindow.web.i18n import translations

    catalogue = translations("zh")
    samples = [v.check_hs_code("12"), v.check_hs_code("9999999999"), v.check_container_number("csqu3054383"),
               v.check_size_type("22g1"), v.check_uscc("1234"), v.check_country("XXX"), v.check_currency("XXX"),
               v.check_location("USNYC"), v.check_customs_office("22"), v.check_ciq_office("31"),
               *(v.check_param(table, "?") for table in v.PARAM_LABELS)]
    for text in samples:
        assert isinstance(text, Text)
        assert catalogue.gettext(text.template) != text.template, text.template


def test_the_entry_rules_speak_chinese_on_the_pages():
    """The rules that span fields (weights, prices, parties, containers listed twice) are Texts with a
    Chinese translation, as the code tables' messages are."""
    from onewindow.filings.validation import parse_entry
    from onewindow.samples import sample_entry

    entry = sample_entry(seed=3, containers=2, items=5)
    entry["net_weight_kg"] = entry["gross_weight_kg"] + 1  # net above gross; the kilogram lines above net too
    entry["items"][0]["total_price"] = entry["items"][0]["total_price"] + 5
    entry["containers"][1]["number"] = entry["containers"][0]["number"]
    entry.pop("consignee")
    _, errors = parse_entry(entry)
    by_field = {tuple(e["loc"]): e["msg"] for e in errors}
    assert set(by_field) >= {("net_weight_kg",), ("items", 0, "total_price"), ("containers", 1, "number"),
                             ("consignee",)}
    for message in by_field.values():
        assert isinstance(message, Text)
        translated = message_text(message, "zh")
        assert translated != str(message) and any("\u4e00" <= ch <= "\u9fff" for ch in translated), translated
    assert message_text(by_field[("consignee",)], "zh") == "进口时必填"
    assert str(by_field[("consignee",)]) == "is required for import"  # the API's English is unchanged


def test_a_joined_message_translates_each_of_its_parts():
    from onewindow.errors import joined

    reasons = [Text("inspection {inspection} is {status}", inspection="i1", status=Text("scheduled")),
               Text("inspection {inspection}: nonconforming without a disposal", inspection="i2"), "plain"]
    text = Text("not yet: {reasons}", reasons=joined(reasons, "; "))
    assert text == "not yet: inspection i1 is scheduled; inspection i2: nonconforming without a disposal; plain"
    assert message_text(text, "zh") == "尚不能放行：查验 i1 已预约; 查验 i2：不合格且无处置意见; plain"
    assert joined([], ", ") == "" and joined(["one"], ", ") == "one"


def test_every_message_in_the_code_has_its_chinese_translation(tmp_path):
    """Extracted from the code as `make messages` does: every message a page may show is in the Chinese
    catalogue with a translation (a message added without running `make messages`, or left untranslated,
    fails here, naming it)."""
    from pathlib import Path

    from babel.messages.frontend import CommandLineInterface
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2]
    web = root / "src" / "onewindow" / "web"
    extracted = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(web / "babel.cfg"), "-k", "Text",
                                "-o", str(extracted), "--no-location", "--omit-header", str(root)])
    with extracted.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with (web / "translations" / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        translated = {m.id for m in read_po(f, locale="zh") if m.id and m.string}
    assert len(wanted) > 300, len(wanted)
    assert sorted(str(m) for m in wanted - translated) == []
