"""Signatures and safe-mode crypto against WeChat's own published samples."""

from __future__ import annotations

import pytest

from bot.parse import parse_xml_fields
from bot.security import MessageCrypto, WebhookError, check_timestamp, sha1_signature, verify_signature

SAMPLE_TOKEN = "spamtest"
SAMPLE_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APP_ID = "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2"
    "LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6u"
    "x5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJp"
    "XgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzp"
    "u9GhglF2PE="
)


def test_official_sample_msg_signature_verifies() -> None:
    verify_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_MSG_SIGNATURE, SAMPLE_ENCRYPT)


def test_official_sample_decrypts_to_the_published_text_message() -> None:
    xml = MessageCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APP_ID).decrypt(SAMPLE_ENCRYPT)
    fields = parse_xml_fields(xml)
    assert fields["MsgType"] == "text"
    assert fields["Content"] == "abcdteT"
    assert fields["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert fields["MsgId"] == "6054768590064713728"


def test_official_sample_with_another_app_id_is_refused() -> None:
    with pytest.raises(WebhookError) as err:
        MessageCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, "wx0000000000000000").decrypt(SAMPLE_ENCRYPT)
    assert err.value.status == 403


def test_plain_mode_signature_matches_the_published_value() -> None:
    assert sha1_signature("test", "1410685589", "test") == "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    verify_signature("test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff")


@pytest.mark.parametrize("position", [0, 17, 39])
def test_one_changed_character_fails(position: int) -> None:
    good = "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
    bad = good[:position] + ("0" if good[position] != "0" else "1") + good[position + 1:]
    with pytest.raises(WebhookError) as err:
        verify_signature("test", "1410685589", "test", bad)
    assert err.value.status == 403


def test_encrypt_then_decrypt_round_trips_chinese_text() -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APP_ID)
    envelope = crypto.encrypt("<xml><Content>您好，工单已受理</Content></xml>", "123", "1409735669")
    fields = parse_xml_fields(envelope)
    assert fields["MsgSignature"] == sha1_signature(SAMPLE_TOKEN, "1409735669", "123", fields["Encrypt"])
    assert "您好，工单已受理" in crypto.decrypt(fields["Encrypt"])


def test_tampered_ciphertext_is_refused_not_decoded_to_garbage() -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APP_ID)
    tampered = SAMPLE_ENCRYPT[:-8] + "AAAAAAA="
    with pytest.raises(WebhookError):
        crypto.decrypt(tampered)


def test_replay_window() -> None:
    check_timestamp("1000", 300, now=1200)
    check_timestamp("1000", 0, now=10**9)  # 0 turns the check off
    with pytest.raises(WebhookError):
        check_timestamp("1000", 300, now=1301)
    with pytest.raises(WebhookError):
        check_timestamp("2000", 300, now=1000)  # from the future
    with pytest.raises(WebhookError):
        check_timestamp("abc", 300, now=1000)
