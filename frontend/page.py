"""The page's frame: title, icon, layout, and the few rules and scripts Streamlit has no option for.

Layout: the views put their input (a fixed-width block, the canvas's width) and their answer (at
least ANSWER_MIN_WIDTH) in one wrapping row, so the answer goes beside the input when both fit and
below it when they do not; the canvas itself is never cut, from a 360 px phone to a 1920 px screen,
sidebar open or closed. Streamlit's wide layout pads the page by 5rem a side at any width; here the
padding shrinks with the window, and the content stops at MAX_WIDTH so a big screen does not
stretch the answer's chart across it.

Scripts (st.html with JavaScript, in a hidden container): hide the canvas component's own
hover-only toolbar (the page has real Undo/Redo/Clear buttons instead), and scroll an answer into
view when it appears out of sight (on a phone, below the canvas).
"""

from __future__ import annotations

import json

import streamlit as st

TITLE = "Digit reader"
ICON = "✍️"
MAX_WIDTH = "72rem"
ANSWER_MIN_WIDTH = "20rem"
TOUCH_TARGET = "2.75rem"  # 44 px: the smallest comfortable size for a fingertip

CSS = f"""
<style>
[data-testid="stMainBlockContainer"] {{
  padding: 2.5rem clamp(1rem, 4vw, 4rem) 4rem; max-width: {MAX_WIDTH};
}}
[class*="st-key-script_"], div:has(> [class*="st-key-script_"]) {{display: none;}}
.verdict-card {{display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 1rem;
  margin-bottom: .25rem;}}
.verdict-card .label {{color: #808495; font-size: 1rem;}}
.predicted-digit {{font-size: 7rem; font-weight: 700; line-height: 1; color: #ff4b4b;}}
/* Inside the card: Streamlit's own rule for a markdown paragraph would win over the class alone. */
.verdict-card .verdict-headline {{font-size: 1.6rem; font-weight: 600; line-height: 1.3;
  margin: 0 0 .5rem; color: #31333f; flex-basis: 100%;}}
.verdict-card .verdict-headline.keep-drawing {{color: #808495; font-weight: 400;}}
.candidates {{display: flex; gap: 1.25rem; margin-bottom: .25rem;}}
.candidate {{display: flex; flex-direction: column; align-items: center;}}
.candidate-digit {{font-size: 3rem; font-weight: 600; line-height: 1; color: #5c6070;}}
.candidate-probability {{font-size: .9rem; color: #808495;}}
[data-testid="stImage"] img {{image-rendering: pixelated;}}
[class*="st-key-answer_"] {{min-width: min(100%, {ANSWER_MIN_WIDTH}); scroll-margin-top: 4rem;}}
.st-key-draw_input button, .st-key-number_input button {{min-height: {TOUCH_TARGET};
  min-width: {TOUCH_TARGET};}}
[class*="st-key-feedback_box_"] button {{min-height: {TOUCH_TARGET}; min-width: {TOUCH_TARGET};}}
[class*="st-key-feedback_thanks_"] [data-testid="stAlert"] {{flex: 1 1 auto;}}
.st-key-draw_controls button, .st-key-number_controls button {{padding-inline: .7rem;}}
.reading-card {{display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 1rem;}}
.reading-card .label {{color: #808495; font-size: 1rem;}}
.read-number {{font-size: 4.5rem; font-weight: 700; line-height: 1.1; letter-spacing: .05em;
  color: #ff4b4b; overflow-wrap: anywhere;}}
.read-char[data-verdict="unsure"], .read-char[data-verdict="not_a_digit"] {{color: #a3a8b8;}}
.reading-card .reading-headline {{font-size: 1.6rem; font-weight: 600; margin: 0;}}
/* Room above for the label of a box that starts at the image's top edge. */
.reading-boxes {{position: relative; width: 100%; max-width: 40rem; margin-top: 1.5rem;}}
/* The figure is exactly the image's box (so percentages of it place the boxes): Streamlit's own
   rules for a markdown image (a fixed height, object-fit) must not letterbox it. */
.reading-boxes img {{display: block; width: 100% !important; height: auto !important;
  max-height: none !important; object-fit: fill !important; margin: 0 !important;
  border-radius: .25rem;}}
.digit-box {{position: absolute; box-sizing: border-box; border: 2px solid #ff4b4b;
  border-radius: 2px;}}
.digit-box span {{position: absolute; bottom: 100%; left: -2px; padding: 0 .3rem;
  background: #ff4b4b; color: #fff; font-weight: 700; font-size: .85rem; line-height: 1.3;}}
.digit-box[data-verdict="unsure"] {{border-color: #f0b400;}}
.digit-box[data-verdict="unsure"] span {{background: #f0b400; color: #31333f;}}
.digit-box[data-verdict="not_a_digit"] {{border-color: #a3a8b8; border-style: dashed;}}
.digit-box[data-verdict="not_a_digit"] span {{background: #a3a8b8;}}
.digit-chips {{display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; margin: .75rem 0 .25rem;}}
.digit-chip {{display: flex; flex-direction: column; align-items: center;}}
.chip-digit {{font-size: 2rem; font-weight: 600; line-height: 1.1; color: #31333f;}}
.digit-chip[data-verdict="unsure"] .chip-digit,
.digit-chip[data-verdict="not_a_digit"] .chip-digit {{color: #a3a8b8;}}
.chip-confidence {{font-size: .85rem; color: #808495;}}
[class*="st-key-chart_row_"] > div:first-child {{min-width: min(100%, 16rem);}}
</style>
"""

# The canvas lives in a shadow root, out of reach of the page's CSS: add the rule inside it, for
# every canvas that appears (a new key remounts the component).
HIDE_CANVAS_TOOLBAR = """
(() => {
  if (window.digitReaderToolbarHidden) return;
  window.digitReaderToolbarHidden = true;
  const patch = () => {
    for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      const root = host.shadowRoot;
      // Only the canvas has such a shadow root here; its content may not be built yet.
      if (root && !root.querySelector('style[data-digit-reader]')) {
        const style = document.createElement('style');
        style.dataset.digitReader = '';
        style.textContent = '.dc-toolbar {display: none !important;}';
        root.appendChild(style);
      }
    }
  };
  patch();
  new MutationObserver(patch).observe(document.body, {childList: true, subtree: true});
})();
"""


def setup() -> None:
    """Must run first: Streamlit takes the page's settings only before any element."""
    st.set_page_config(page_title=TITLE, page_icon=ICON, layout="wide")
    st.html(CSS)  # style-only HTML goes to an invisible container, taking no space
    _script("hide_toolbar", HIDE_CANVAS_TOOLBAR)


def header() -> None:
    st.title(f"{ICON} {TITLE}")
    st.markdown(
        "Draw one digit (0–9) in the black square with your mouse or finger and press "
        "**Predict**, upload a picture of one in the *Upload* tab, or write a whole number in "
        "the *Number* tab."
    )


def answer_container(view: str) -> st.delta_generator.DeltaGenerator:
    """The block a view's answer goes in; beside the input when there is room, else below it."""
    return st.container(key=f"answer_{view}")


def scroll_to_answer(view: str, serial: int) -> None:
    """Bring the view's answer into sight if it is not (once per `serial`: a script whose text
    is unchanged is not run again on the next rerun, so the page does not jump on every stroke)."""
    selector = json.dumps(f".st-key-answer_{view}")
    _script(
        f"scroll_{view}",
        f"""
        // answer {serial}
        (() => {{
          // Only when the answer starts out of sight (on a phone, below the canvas). Then hold
          // its top near the top of the window for up to 3 s, since while the answer is still
          // being drawn the page may be too short to scroll that far; a touch, a wheel or a key
          // hands the scrolling back to the person at once.
          const answer = document.querySelector({selector});
          if (!answer) return;
          const first = answer.getBoundingClientRect().top;
          if (first >= 0 && first <= window.innerHeight * 0.5) return;
          const events = ["touchstart", "wheel", "keydown", "mousedown"];
          const stop = () => {{
            clearInterval(timer);
            for (const name of events) window.removeEventListener(name, stop, true);
            delete answer.dataset.scrollHold;
          }};
          for (const name of events) window.addEventListener(name, stop, true);
          answer.dataset.scrollHold = "on";  // while it lasts (a test waits for the hand-back)
          const started = Date.now();
          const timer = setInterval(() => {{
            if (!answer.isConnected || Date.now() - started > 3000) return stop();
            const top = answer.getBoundingClientRect().top;
            if (top < 0 || top > 120) answer.scrollIntoView({{block: "start"}});
          }}, 100);
        }})();
        """,
    )


def _script(name: str, code: str) -> None:
    with st.container(key=f"script_{name}"):
        st.html(f"<script>{code}</script>", unsafe_allow_javascript=True)
