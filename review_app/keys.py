"""Keyboard flow of the per-form screen (a small script run in the page; nothing is loaded from outside).

Widgets are found by the ``st-key-<key>`` class Streamlit gives every keyed widget.
Enter in a value that needs a look moves to the next such value instead of submitting;
on the last one it submits the form ("Setujui formulir"). Digits pick a tick-box option.
Enter in the note field flags the form instead of approving it.
"""

from __future__ import annotations

import json

import streamlit as st

_SCRIPT = """
<script>
(() => {
  window.__susulan = %(cfg)s;
  const q = (k, sel) => document.querySelector('.st-key-' + k + ' ' + sel);
  window.__susulanFocus = (k) => {
    const el = q(k, 'input:checked') || q(k, 'input:not([type=hidden])');
    if (!el) return false;
    el.focus({preventScroll: false});
    if (el.select && el.type !== 'radio') el.select();
    el.scrollIntoView({block: 'center'});
    return true;
  };
  window.__susulanClick = (k) => { const b = q(k, 'button'); if (b) b.click(); };
  if (!window.__susulanInstalled) {
    window.__susulanInstalled = true;
    document.addEventListener('keydown', (e) => {
      const c = window.__susulan;
      if (!c || e.ctrlKey || e.altKey || e.metaKey) return;
      const box = e.target.closest ? e.target.closest('[class*="st-key-"]') : null;
      if (!box) return;
      const cls = [...box.classList].find((k) => k.startsWith('st-key-'));
      const key = cls ? cls.slice(7) : '';
      if (key === c.note && e.key === 'Enter') {
        e.preventDefault(); e.stopPropagation(); window.__susulanClick(c.flag); return;
      }
      const i = c.order.indexOf(key);
      if (i < 0) return;
      const radios = box.querySelectorAll('input[type="radio"]');
      if (radios.length && /^[0-9]$/.test(e.key)) {
        const n = e.key === '0' ? radios.length : parseInt(e.key, 10);
        if (n >= 1 && n <= radios.length) {
          e.preventDefault(); e.stopPropagation(); radios[n - 1].click(); radios[n - 1].focus();
        }
        return;
      }
      if (e.key !== 'Enter' || e.shiftKey) return;
      const next = c.eyes.find((k) => c.order.indexOf(k) > i);
      if (next) {
        e.preventDefault(); e.stopPropagation(); e.target.blur && e.target.blur();
        setTimeout(() => window.__susulanFocus(next), 30);
      } else if (radios.length) {
        e.preventDefault(); e.stopPropagation(); window.__susulanClick(c.approve);
      }
    }, true);
  }
  const c = window.__susulan;
  if (window.__susulanFocused !== c.record) {
    let tries = 0;
    const first = () => {
      const target = c.eyes.length ? c.eyes[0] : null;
      const ok = target ? window.__susulanFocus(target) : (() => {
        const b = q(c.approve, 'button'); if (b) { b.focus(); return true; } return false; })();
      if (ok) { window.__susulanFocused = c.record; } else if (++tries < 40) { setTimeout(first, 100); }
    };
    setTimeout(first, 60);
  }
})();
</script>
"""


def script(order: list[str], eyes: list[str], record_id: int, note_key: str) -> str:
    """The page script for one record: field keys in screen order and those that need a look."""
    cfg = {"order": order, "eyes": eyes, "record": record_id, "note": note_key,
           "approve": "act_approve", "flag": "act_flag"}
    return _SCRIPT % {"cfg": json.dumps(cfg)}


def install(order: list[str], eyes: list[str], record_id: int, note_key: str) -> None:
    """Add the keyboard script to the page (re-run whenever the record or its versions change)."""
    st.html(script(order, eyes, record_id, note_key), unsafe_allow_javascript=True)


def clear() -> None:
    """Forget the keyboard flow (no record on screen)."""
    st.html("<script>window.__susulan = null; window.__susulanFocused = null;</script>", unsafe_allow_javascript=True)
