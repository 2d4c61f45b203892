"""Customer HTML made safe, and replies split into new text and quoted history."""

import pytest

from inbox.providers.email import fold_quoted_text, sanitize_email_html
from inbox.providers.email_html import html_to_text

# -- sanitising --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=https://evil.test/x.js></SCRIPT>",
        '<img src="x" onerror="alert(1)">',
        '<img src="cid:ok@x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        '<a href="JaVaScRiPt:alert(1)">click</a>',
        '<a href="&#106;avascript:alert(1)">click</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
        '<svg onload="alert(1)"><circle r="1"/></svg>',
        '<iframe src="https://evil.test"></iframe>',
        '<body onload="alert(1)">hi</body>',
        '<div onclick="alert(1)" onmouseover="alert(2)">hi</div>',
        '<form action="https://evil.test"><input name="password"></form>',
        '<object data="https://evil.test/x.swf"></object>',
        '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
        '<meta http-equiv="refresh" content="0;url=https://evil.test">',
        '<base href="https://evil.test/">',
        '<link rel="stylesheet" href="https://evil.test/x.css">',
    ],
)
def test_nothing_that_runs_or_loads_survives(attack):
    cleaned = sanitize_email_html(f"<p>Hello</p>{attack}").lower()

    for forbidden in (
        "<script",
        "onerror",
        "onload",
        "onclick",
        "onmouseover",
        "javascript:",
        "data:",
        "<iframe",
        "<svg",
        "<form",
        "<input",
        "<object",
        "<meta",
        "<base",
        "<link",
        "evil.test",
    ):
        assert forbidden not in cleaned
    assert "hello" in cleaned


def test_styles_are_removed_with_their_content():
    cleaned = sanitize_email_html(
        '<style>body{background:url(https://t.test/p)}</style><p style="color:red">Hi</p>'
    )

    assert cleaned == "<p>Hi</p>"


def test_remote_images_are_dropped_inline_images_kept():
    cleaned = sanitize_email_html(
        '<p>Logo:</p><img src="https://tracker.test/pixel.gif?u=1" width="1" height="1">'
        '<img src="cid:logo@acme" alt="Logo" width="120">'
        '<img src="//tracker.test/p.gif"><img src="/relative.png"><img alt="no source">'
    )

    assert cleaned == '<p>Logo:</p><img src="cid:logo@acme" alt="Logo" width="120">'


def test_links_keep_their_target_and_get_a_safe_rel():
    cleaned = sanitize_email_html(
        '<a href="https://acme.test/track?id=1" target="_blank" rel="opener">Track</a>'
        '<a href="mailto:help@acme.test">Mail us</a>'
    )

    assert cleaned == (
        '<a href="https://acme.test/track?id=1" rel="noopener noreferrer nofollow">Track</a>'
        '<a href="mailto:help@acme.test" rel="noopener noreferrer nofollow">Mail us</a>'
    )


def test_ordinary_mail_formatting_survives():
    html = (
        "<h2>Order</h2><p><b>Bold</b>, <i>italic</i>, <u>under</u></p>"
        '<table><tbody><tr><th>Item</th><td colspan="2">Mug</td></tr></tbody></table>'
        "<ul><li>one</li></ul><blockquote>old</blockquote><pre>code</pre><hr>"
    )

    assert sanitize_email_html(html) == html


def test_class_and_id_attributes_are_dropped():
    assert sanitize_email_html('<div class="x" id="main">Hi</div>') == "<div>Hi</div>"


def test_empty_html_is_empty():
    assert sanitize_email_html("") == ""
    assert sanitize_email_html(None) == ""


def test_html_text_keeps_links_lines_and_lists():
    text = html_to_text(
        sanitize_email_html(
            "<p>Hi&nbsp;there &amp; welcome</p><p>Line one<br>Line two</p>"
            '<p><a href="https://acme.test/reset">Reset your password</a></p>'
            "<ol><li>First</li><li>Second</li></ol>"
        )
    )

    assert text == (
        "Hi there & welcome\n\nLine one\nLine two\n\n"
        "Reset your password <https://acme.test/reset>\n\n- First\n- Second"
    )


def test_html_text_shows_escaped_markup_as_text():
    assert html_to_text(sanitize_email_html("<p>1 &lt; 2 &lt;b&gt;</p>")) == "1 < 2 <b>"


# -- quote folding -----------------------------------------------------------------------


def test_text_without_quotes_is_all_new():
    assert fold_quoted_text("Hello\n\nThanks\n") == ("Hello\n\nThanks", "")


def test_angle_bracket_tail_is_folded():
    new, quoted = fold_quoted_text("Sounds good.\n\n> Shall we ship?\n> Acme\n")

    assert new == "Sounds good."
    assert quoted == "> Shall we ship?\n> Acme"


def test_single_line_attribution_is_folded_with_its_quote():
    new, quoted = fold_quoted_text(
        "Yes.\n\nOn 03/06/2024 10:02, Acme Support wrote:\n> Shall we ship?\n"
    )

    assert new == "Yes."
    assert quoted == "On 03/06/2024 10:02, Acme Support wrote:\n> Shall we ship?"


def test_attribution_wrapped_over_lines_is_folded_whole():
    new, quoted = fold_quoted_text(
        "Yes.\n\nOn Mon, Jun 3, 2024 at 10:02 AM Acme Support\n<support@acme.test> wrote:\n"
        "\n> Shall we ship?\n"
    )

    assert new == "Yes."
    assert quoted.startswith("On Mon, Jun 3, 2024")


@pytest.mark.parametrize(
    "attribution",
    [
        "Am 03.06.2024 um 10:02 schrieb Acme Support <support@acme.test>:",
        "Le lun. 3 juin 2024 à 10:02, Acme Support <support@acme.test> a écrit :",
        "El lun, 3 jun 2024 a las 10:02, Acme Support (<support@acme.test>) escribió:",
    ],
)
def test_attributions_in_other_languages_are_folded(attribution):
    new, quoted = fold_quoted_text(f"Danke.\n\n{attribution}\n> Frage?\n")

    assert new == "Danke."
    assert quoted.startswith(attribution)


def test_inline_answers_between_quotes_stay_new_text():
    text = (
        "On Mon, Acme Support wrote:\n"
        "> What colour?\n"
        "Blue.\n"
        "> What size?\n"
        "Large.\n"
        "\n"
        "> Anything else?\n"
    )

    new, quoted = fold_quoted_text(text)

    assert new == ("On Mon, Acme Support wrote:\n> What colour?\nBlue.\n> What size?\nLarge.")
    assert quoted == "> Anything else?"


def test_original_message_separator_folds_everything_below():
    new, quoted = fold_quoted_text(
        "OK\r\n\r\n-----Original Message-----\r\nFrom: A\r\nSent: today\r\n\r\nOld text\r\n"
    )

    assert new == "OK"
    assert quoted == "-----Original Message-----\nFrom: A\nSent: today\n\nOld text"


def test_forwarded_header_block_is_not_folded():
    text = (
        "Please look at this.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Carrier <noreply@carrier.test>\n"
        "Date: Mon, 3 Jun 2024\n"
        "Subject: Delivery failed\n\n"
        "We could not deliver parcel 123."
    )

    assert fold_quoted_text(text) == (text, "")


def test_a_mail_that_is_only_a_quote_has_no_new_text():
    assert fold_quoted_text("> just the quote\n") == ("", "> just the quote")
