"""The studio's flows over live status (SSE), uploads and buying a pack (Stripe Checkout
in a browser, Telegram Stars inside the Mini App)."""

from __future__ import annotations

import io

import pytest
from browser_servers import Demo, Served
from browser_support import (
    LOADED_IMAGE,
    Browser,
    assert_clean,
    card_of,
    create_from_prompt,
    telegram_launch,
)

pytestmark = pytest.mark.slow

# Records every fetch the page makes, before the page's own scripts run.
FETCH_LOG = """
window.__fetches = [];
const __fetch = window.fetch.bind(window);
window.fetch = (input, init) => {
  window.__fetches.push(String(input && input.url || input));
  return __fetch(input, init);
};
"""



def test_a_result_arrives_over_the_event_stream_without_polling(browser: Browser, served: Served):
    telegram_launch(browser, served, 9101, "sse_ann", FETCH_LOG)
    served.simulator(processing_delay=4)  # polling would ask about it twice or more meanwhile
    try:
        browser.wait_for("window.__fetches.some((u) => u.includes('/api/generations/events'))",
                         what="the event stream to open")
        card = create_from_prompt(browser, "A kite over the dunes")
        generation_id = browser.js("return document.querySelector(arguments[0]).dataset.id", card)
        assert browser.wait_for(LOADED_IMAGE, card, what="the image pushed over SSE") > 0
    finally:
        served.simulator(processing_delay=0.6)
    reads = browser.js("return window.__fetches.filter((u) => u.endsWith('/api/generations/' + arguments[0])).length",
                       generation_id)
    assert reads <= 2, f"{reads} reads of the generation: the studio polled instead of listening"
    assert_clean(browser)


# Live (live.js) with an api whose reads are answered when the script says: a poll is
# asked, the stream tells of a newer state, then the poll's older answer comes.
OVERTAKEN_READ = """
const done = arguments[arguments.length - 1];
(async () => {
  const { Live } = await import('/studio/live.js');
  const answers = [];
  const api = { get: () => new Promise((resolve) => answers.push(resolve)) };
  const shown = [];
  const live = new Live(api, false, (g) => shown.push(`${g.id} ${g.status} ${g.output_urls.join()}`));
  live.watch({ id: 'g', status: 'processing' });
  const overtaken = live.poll();
  live.deliver({ id: 'g', action: 'create', status: 'completed', output_urls: ['kept'] });
  answers.shift()({ id: 'g', action: 'create', status: 'processing', output_urls: [] });
  await overtaken;
  live.watch({ id: 'h', status: 'processing' });
  const plain = live.poll();
  answers.shift()({ id: 'h', action: 'create', status: 'completed', output_urls: ['first'] });
  await plain;
  return { shown, running: [...live.running] };
})().then(done, (error) => done({ error: String(error) }));
"""


def test_a_read_answered_after_newer_news_of_the_generation_is_dropped(browser: Browser, demo: Demo):
    """A stale read once put Replicate's URL back on a card after the stream had told of
    the kept one: a read asked before newer news of its generation arrived is dropped,
    and one that nothing overtook is shown."""
    browser.open(demo.url)
    outcome = browser.driver.execute_async_script(OVERTAKEN_READ)
    assert outcome == {"shown": ["g completed kept", "h completed first"], "running": []}


def held_reads(view: str, body: str) -> str:
    """A script for `execute_async_script`: the page's section `view` replaced by an empty
    one, an `api` whose reads wait in `answers` (each `{ url, resolve }`) until `body`
    answers them, and `settle()` to let the page take an answer in; what `body` returns is
    the outcome (or `{ error }`)."""
    return (
        "const done = arguments[arguments.length - 1];\n"
        "(async () => {\n"
        "  const fresh = document.createElement('section');\n"
        f"  fresh.id = '{view}';\n"
        "  document.getElementById(fresh.id).replaceWith(fresh);\n"
        "  const answers = [];\n"
        "  const api = { get: (url) => new Promise((resolve) => answers.push({ url, resolve })) };\n"
        "  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));\n"
        f"{body}\n"
        "})().then(done, (error) => done({ error: String(error) }));\n"
    )


# The gallery (gallery.js): the unfiltered page is asked, then the failed ones, and the
# answers come in the other order.
LOADS_ANSWERED_OUT_OF_ORDER = held_reads("view-gallery", """
  const { initGallery } = await import('/studio/gallery.js');
  const gallery = initGallery({ api, live: null, models: [] });
  const everything = gallery.load();
  const status = document.getElementById('filter-status');
  status.value = 'failed';
  status.dispatchEvent(new Event('change'));
  const [all, failed] = answers;
  failed.resolve({ generations: [], total: 0, totalPages: 1 });
  await settle();
  all.resolve({ generations: [{
    id: 'g', action: 'create', status: 'completed', model_id: 'flux-schnell', model_name: 'FLUX Schnell',
    prompt: 'an older answer', output_urls: [], created_at: '2026-12-03T09:00:00Z', cost: 1,
  }], total: 1, totalPages: 1 });
  await everything;
  return { asked: answers.map((a) => a.url), shown: document.getElementById('gallery-list').textContent };
""")


def test_a_gallery_page_answered_after_a_newer_load_was_asked_is_dropped(browser: Browser, demo: Demo):
    """Changing the filters twice in quick succession once left the first change's page on
    screen when its answer came last: only the newest load's answer is shown."""
    browser.open(demo.url)
    outcome = browser.driver.execute_async_script(LOADS_ANSWERED_OUT_OF_ORDER)
    assert "error" not in outcome, outcome
    assert [("status=failed" in url) for url in outcome["asked"]] == [False, True]
    assert "Nothing here yet" in outcome["shown"] and "an older answer" not in outcome["shown"]


# The credits view (credits.js), opened twice at once; the second opening's answers come
# first, the first's after them.
CREDITS_OPENED_TWICE = held_reads("view-credits", """
  const { initCredits } = await import('/studio/credits.js');
  const app = {
    api, config: { features: { packs: true, credit_history: true } }, me: { credits: 5 },
    onBalance: () => {}, onShow: {}, webApp: null,
  };
  initCredits(app);
  app.onShow.credits();
  app.onShow.credits();
  const [packs1, history1, packs2, history2] = answers;
  const pack = (title) => ({ packs: [{ id: title, title, credits: 10, amount: 100, currency: 'usd' }] });
  const page = (amount) => ({ entries: [{ amount, kind: 'purchase', created_at: '2026-12-03T09:00:00Z' }],
                              totalPages: 1 });
  packs2.resolve(pack('newer pack'));
  history2.resolve(page(10));
  await settle();
  packs1.resolve(pack('older pack'));
  history1.resolve(page(99));
  await settle();
  return {
    asked: answers.map((a) => a.url.split('?')[0]),
    packs: [...document.querySelectorAll('#packs .pack strong')].map((e) => e.textContent),
    history: [...document.querySelectorAll('#credit-history li')].map((e) => e.textContent),
  };
""")


def test_the_credits_view_opened_twice_at_once_shows_one_list_of_each(browser: Browser, demo: Demo):
    """Each list was emptied when its load began and filled when its answer came, so two
    loads at once showed every pack and entry twice: now only the newest load's answer is
    shown, whichever comes last."""
    browser.open(demo.url)
    outcome = browser.driver.execute_async_script(CREDITS_OPENED_TWICE)
    assert "error" not in outcome, outcome
    assert outcome["asked"] == ["/api/credits/packs", "/api/credits/history"] * 2
    assert outcome["packs"] == ["newer pack"]
    assert len(outcome["history"]) == 1 and outcome["history"][0].startswith("+10"), outcome["history"]


def png_file(tmp_path) -> str:
    from PIL import Image

    path = tmp_path / "photo.png"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_a_photo_from_the_device_is_uploaded_and_upscaled(browser: Browser, served: Served, tmp_path):
    telegram_launch(browser, served, 9102, "upload_bob")
    browser.click('#nav button[data-view="create"]')
    browser.click('input[name="action"][value="upscale"]')
    browser.wait_for("document.getElementById('create-upload')", what="the upload button")
    browser.driver.find_element("css selector", "#create-upload").send_keys(png_file(tmp_path))
    browser.wait_for("!document.querySelector('#create-form .preview').hidden"
                     " && document.querySelector('#create-form .preview').naturalWidth > 0",
                     what="the uploaded photo's preview")
    browser.click_text("#create-form", "Upscale")
    browser.wait_for("!document.getElementById('view-gallery').hidden", what="the gallery")
    assert browser.wait_for(LOADED_IMAGE, card_of(browser, "upscale"), what="the upscaled photo") > 0
    assert_clean(browser)


def test_a_pack_is_bought_with_stripe_checkout_in_a_browser(browser: Browser, demo: Demo):
    browser.open(demo.url)
    before = browser.js("return document.getElementById('balance').textContent")
    browser.click('#nav button[data-view="credits"]')
    browser.wait_for("document.querySelector('#packs .pack button:not([disabled])')", what="a pack for sale")
    browser.click("#packs .pack button:not([disabled])")
    # The Stripe simulator's checkout page: pay as a person would.
    browser.wait_for("!location.href.startsWith(arguments[0])", demo.url, what="the checkout page")
    browser.wait_for("[...document.querySelectorAll('button, input[type=submit]')]"
                     ".some((b) => /pay/i.test(b.textContent || b.value))", what="a pay button")
    browser.js("[...document.querySelectorAll('button, input[type=submit]')]"
               ".find((b) => /pay/i.test(b.textContent || b.value)).click()")
    # The simulator's "paid" page links back, as Stripe's success_url redirect would.
    browser.wait_for("[...document.querySelectorAll('a')].some((a) => /back to the studio/i.test(a.textContent))",
                     what="the link back to the studio")
    browser.js("[...document.querySelectorAll('a')].find((a) => /back to the studio/i.test(a.textContent)).click()")
    browser.wait_for("location.href.startsWith(arguments[0]) && document.body"
                     " && document.body.dataset.ready === 'true'", demo.url, what="the way back to the studio")
    browser.wait_for("document.getElementById('balance').textContent !== arguments[0]", before,
                     what="the credits to land")
    browser.wait_for("document.getElementById('credit-history').textContent.includes('Bought')",
                     what="the purchase in the credit history")
    assert_clean(browser)


def test_a_pack_is_bought_with_telegram_stars_inside_the_mini_app(browser: Browser, served: Served):
    telegram_launch(browser, served, 9103, "stars_cat")
    browser.click('#nav button[data-view="credits"]')
    browser.wait_for("document.querySelector('#packs .pack button:not([disabled])')",
                     what="a pack priced in Stars")
    assert "⭐" in browser.js("return document.querySelector('#packs .pack button').textContent")
    browser.click("#packs .pack button:not([disabled])")
    link = browser.wait_for("window.__invoices[0]", what="Telegram.WebApp.openInvoice")
    assert link.startswith(("https://", "http://"))
    browser.js("window.__invoiceCallback('paid')")
    toast = browser.wait_for("[...document.querySelectorAll('.toast')].map((t) => t.textContent).join('|')")
    assert "waiting for your credits" in toast
    assert_clean(browser)
