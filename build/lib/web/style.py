"""The page's CSS and the few lines of JavaScript Gradio runs for it (labels, Escape, scrolling)."""

from __future__ import annotations

import json

CSS = """
.prose.folio-banner { background: #fff7e6; border: 1px solid #f5c26b; padding: 10px 14px; border-radius: 8px; }
.prose.folio-status { min-height: 1.5em; }
.prose.folio-status h3 { margin: 4px 0; }
.folio-gallery .grid-wrap { min-height: 0; max-height: none; height: auto; }
.folio-gallery .caption-label {
  white-space: normal; overflow: visible; max-width: 94%; font-size: 12px; line-height: 1.3;
}
.folio-gallery .thumbnail-item:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
.folio-detail-card { display: flex; gap: 18px; align-items: flex-start; }
.folio-detail-card > img { width: 200px; max-width: 40%; height: auto; border-radius: 6px; flex: none; }
.folio-detail-card > div { flex: 1; min-width: 0; }
.folio-detail-card h2 { margin-top: 0; }
.folio-scroll { overflow-x: auto; max-width: 100%; }
.folio-detail-card h2:focus { outline: none; }
.folio-detail-card mark { background: #ffe58a; color: #1f2937; padding: 0 2px; border-radius: 2px; }
.folio-detail-card table { font-size: 13px; margin: 6px 0; }
.folio-detail-card summary { cursor: pointer; font-weight: 600; margin: 6px 0; }
.folio-badge {
  display: inline-block; background: #eef2f7; color: #1f2937; border-radius: 999px; padding: 1px 10px; font-weight: 600;
}
.folio-badge.folio-found { background: #e6f4ea; color: #14532d; }
.folio-badge.folio-likely { background: #e8f0fe; color: #1e3a8a; }
.folio-books {
  list-style: none; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px;
}
.folio-book { display: flex; gap: 10px; align-items: flex-start; margin: 0; }
.folio-book img { width: 64px; height: auto; border-radius: 4px; flex: none; }
.prose.folio-table { overflow-x: auto; }
.folio-chip {
  display: inline-block; border: 1px solid #94a3b8; border-radius: 999px; padding: 0 10px; margin: 2px; font-size: 13px;
}
@media (max-width: 640px) {
  .folio-gallery .grid-container { --grid-cols: 2 !important; }
  .folio-gallery .caption-label {
    display: -webkit-box; -webkit-line-clamp: 4; -webkit-box-orient: vertical; overflow: hidden; font-size: 11px;
    padding-bottom: 0;
  }
  .folio-detail-card { flex-direction: column; align-items: stretch; }
  .folio-detail-card > img { max-width: 60%; align-self: flex-start; }
  .folio-detail-card .folio-compares { display: none; }
  .folio-table { display: none; }
}
"""
# After a card is selected: bring its explanation into view and move the keyboard focus there.
FOCUS_DETAIL_JS = """() => {
  const heading = document.querySelector('#folio-detail h2');
  if (heading) { heading.scrollIntoView({block: 'start'}); heading.focus({preventScroll: true}); }
}"""
# After a search: bring the results' header into view when it is below the first screen (phones).
SCROLL_TO_RESULTS_JS = """() => {
  const header = document.querySelector('#folio-status');
  if (header && header.getBoundingClientRect().top > window.innerHeight * 0.5) {
    header.scrollIntoView({block: 'start', behavior: 'instant'});
  }
}"""
# Back to my results: the results' header into view, the focus on the first card.
BACK_TO_RESULTS_JS = """() => {
  const header = document.querySelector('#folio-status');
  if (header) header.scrollIntoView({block: 'start', behavior: 'instant'});
  const card = document.querySelector('#folio-gallery .thumbnail-item');
  if (card) card.focus({preventScroll: true});
}"""


def page_js(example_alts: list[str]) -> str:
    """On load: alt text Gradio leaves out, cards named by their book for screen readers, Escape closes the detail."""
    return f"""() => {{
  const examples = {json.dumps(example_alts)};
  const label = () => {{
    document.querySelectorAll('#folio-cover img:not([alt]), #folio-cover img[alt=""]')
      .forEach(img => {{ img.alt = 'The cover image you gave'; }});
    document.querySelectorAll('#folio-cover-examples img')
      .forEach((img, i) => {{ if (!img.alt && examples[i]) img.alt = examples[i]; }});
    document.querySelectorAll('.folio-gallery .thumbnail-item').forEach(card => {{
      const img = card.querySelector('img');
      if (img && img.alt && card.getAttribute('aria-label') !== img.alt) card.setAttribute('aria-label', img.alt);
    }});
  }};
  label();
  new MutationObserver(label).observe(document.body, {{subtree: true, childList: true, attributes: true,
    attributeFilter: ['alt']}});
  document.addEventListener('keydown', event => {{
    const panel = document.querySelector('#folio-detail');
    if (event.key === 'Escape' && panel && panel.offsetParent !== null) {{
      document.querySelector('#folio-back')?.click();
    }}
  }});
}}"""
