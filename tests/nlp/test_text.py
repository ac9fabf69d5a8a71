"""Normalisation and tokenisation tests."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nlp import normalize, tokenize
from nlp.text import stopwords, to_halfwidth


def test_fullwidth_to_halfwidth() -> None:
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("Ｕ盾") == "u盾"
    assert to_halfwidth("１２３　４") == "123 4"


def test_traditional_to_simplified() -> None:
    assert normalize("網銀一直顯示處理中") == "网银一直显示处理中"
    assert normalize("銀行櫃員態度") == "银行柜员态度"


def test_punctuation_folded_and_repeats_collapsed() -> None:
    assert normalize("为什么？？？？？") == "为什么???"
    assert normalize("好！") == "好!"
    assert normalize("太慢了！！！！！！") == "太慢了!!!"


def test_control_characters_stripped() -> None:
    assert normalize("转\x00账\u200b失\x1b败\u202e") == "转账失败"
    assert normalize("第一行\n第二行\t结束") == "第一行 第二行 结束"
    assert normalize("\ud800坏字符") == "坏字符"


def test_emoji_kept_and_collapsed() -> None:
    assert normalize("😡😡😡😡😡😡") == "😡😡😡"
    assert "😡" in tokenize("太差了😡")


def test_empty_and_none_like() -> None:
    assert normalize("") == ""
    assert normalize("   \n\t ") == ""
    assert tokenize("") == []
    assert tokenize("，。、；…") == []
    assert tokenize("！") == ["!"]  # "!" and "?" are kept: they carry the feedback type


def test_userdict_words_kept_whole() -> None:
    cases = {
        "非柜面交易限额太低了": "非柜面交易限额",
        "小额账户管理费凭什么收": "小额账户管理费",
        "办业务要做风险测评和双录": "风险测评",
        "自助存取款机吞卡了": "自助存取款机",
        "我的Ｕ盾坏了": "u盾",
        "打12378投诉你们": "12378",
        "大额存单还有额度吗": "大额存单",
        "理财经理一直推销结构性存款": "结构性存款",
        "跨行转账手续费太贵": "跨行转账手续费",
        "接到好多营销电话": "营销电话",
        "去金融监管总局投诉": "金融监管总局",
    }
    for text, word in cases.items():
        assert word in tokenize(text), (text, tokenize(text))
    assert "双录" in tokenize("办业务要做风险测评和双录")
    assert "理财经理" in tokenize("理财经理一直推销结构性存款")


def test_stopwords_removed_but_question_words_kept() -> None:
    tokens = tokenize("我的卡是不是被冻结了吗？")
    assert "的" not in tokens
    assert "吗" in tokens
    assert "?" in tokens
    assert "的" in stopwords()


def test_simplified_text_is_not_rewritten() -> None:
    text = "办完业务结束了，卡坏了，总结一下"
    assert normalize(text) == "办完业务结束了,卡坏了,总结一下"


def test_traditional_input_tokenises_like_simplified() -> None:
    assert tokenize("手機銀行轉賬失敗") == tokenize("手机银行转账失败")


def test_tokenizer_can_be_built_before_the_converter() -> None:
    """Building the tokenizer normalises the user dictionary, which builds the converter under the same lock."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = "from nlp.text import _get_tokenizer; print(len(list(_get_tokenizer().cut('手机银行'))))"
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr


# --------------------------------------------------------------------------- fast paths equal the slow ones

_MIXED = st.text(
    alphabet=st.sampled_from(list("手機银行轉賬账户凍結冻结卡ATM APP 12345,.!?？！\r\n\t\u3000\u00a0\u200b😀👍營業部营业部"
                                  "abcXYZ-_.%#&+~") + ["\x00", "\x85", "\u2028", "\ue000"]),
    max_size=60,
)


def _corpus_texts() -> list[str]:
    from nlp import load_corpus

    corpus = load_corpus()
    return [e.normalized for e in corpus.train[::7] + corpus.heldout]


def test_cut_no_hmm_equals_jieba_on_the_corpus() -> None:
    from nlp.text import _get_tokenizer, cut_no_hmm

    tok = _get_tokenizer()
    texts = _corpus_texts()
    assert len(texts) > 3000
    for text in texts:
        assert cut_no_hmm(text) == list(tok.cut(text, HMM=False)), text


@settings(max_examples=400, deadline=None)
@given(_MIXED)
def test_cut_no_hmm_equals_jieba_on_any_text(text: str) -> None:
    from nlp.text import _get_tokenizer, cut_no_hmm

    assert cut_no_hmm(text) == list(_get_tokenizer().cut(text, HMM=False))


@settings(max_examples=400, deadline=None)
@given(_MIXED)
def test_t2s_shortcut_equals_the_converter(text: str) -> None:
    from nlp.text import _get_converter, _t2s

    assert _t2s(text) == (_get_converter().ts(text) if text else text)


@settings(max_examples=400, deadline=None)
@given(_MIXED)
def test_strip_controls_leaves_printable_text_alone_and_cleans_the_rest(text: str) -> None:
    import unicodedata

    from nlp.text import _strip_controls

    out = _strip_controls(text)
    if text.isprintable():
        assert out == text
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in out)
    assert out.replace(" ", "") == "".join(
        ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co"} and ch not in "\u2028\u2029"
    ).replace(" ", "")


def test_jieba_cache_is_read_in_one_go_and_a_bad_cache_falls_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """First start builds jieba's cache; the next start reads it; a corrupt cache is rebuilt. Same tokens each time."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "import jieba, nlp.text as t\n"
        "tok = t._get_tokenizer()\n"
        "ref = jieba.Tokenizer(); ref.initialize()\n"
        "print(tok.FREQ.keys() >= ref.FREQ.keys(), len(tok.FREQ) - len(ref.FREQ) < 1000, "
        "'|'.join(t.cut_no_hmm('我想问一下手机银行转账限额怎么调整')))\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    cache = tmp_path / "jieba.cache"

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    first = run()  # no cache yet: jieba builds and writes it
    assert cache.is_file()
    second = run()  # read with one read + marshal.loads
    cache.write_bytes(b"not a marshal stream")
    third = run()  # unreadable: jieba's initialize() rebuilds it
    assert first == second == third
    assert first.startswith("True True ") and "手机银行" in first.split()[-1].split("|")
    assert cache.read_bytes() != b"not a marshal stream"


def test_t2s_without_the_character_table_still_converts(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """If opencc_purepy stops exposing its table, every text goes through ts() instead of being skipped."""
    import nlp.text as text_module

    text_module._get_converter()
    monkeypatch.setattr(text_module, "_mapped_chars", None)
    assert text_module._t2s("手機銀行轉賬") == "手机银行转账"
    assert text_module._t2s("手机银行") == "手机银行"
