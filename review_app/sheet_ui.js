// Susulan review component: one sheet (or one batch of the per-field grid), keyboard first.
//
// Everything shown is built with createElement/textContent: values, file names, messages
// and notes are never parsed as HTML or markdown. What a person types is kept per field
// (id + version) in sessionStorage until it is saved, so moving away, skipping or
// reloading loses nothing; a value someone else changed meanwhile shows a conflict beside
// the field. The next two sheets arrive with the current one (data.ahead) and the next is
// shown at once when this one is approved or skipped; the server's answer follows, and
// actions taken meanwhile wait their turn.

// drafts belong to one person in one tab; the login page clears them (review_app.common.forget_drafts)
let DRAFTS = 'susulan-drafts:';

function drafts() {
  try { return JSON.parse(sessionStorage.getItem(DRAFTS) || '{}'); } catch (e) { return {}; }
}
function putDraft(id, v, value) {
  const d = drafts(); d[id] = { v, value }; sessionStorage.setItem(DRAFTS, JSON.stringify(d));
}
function dropDrafts(ids) {
  const d = drafts(); let n = 0;
  for (const id of ids) if (d[id] !== undefined) { delete d[id]; n++; }
  if (n) sessionStorage.setItem(DRAFTS, JSON.stringify(d));
}

function h(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'cls') e.className = v;
    else if (k === 'data') Object.entries(v).forEach(([dk, dv]) => { e.dataset[dk] = dv; });
    else if (k === 'style') Object.assign(e.style, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) e.append(kid);
  return e;
}

// characters of a shown value, one per printed cell
function glyphs(kind, value) {
  if (kind === 'date' || kind === 'time') return value.replace(/[^0-9]/g, '').split('');
  return value.split('');
}

function drawStrip(box, c, value) {
  box.textContent = '';
  if (!c.strip || !c.strip.x) { box.textContent = value || ''; return; }
  const chars = glyphs(c.kind, value || '');
  let at = chars.map((_, i) => i);
  if (value === c.machine && c.strip.ink.length === chars.length) at = c.strip.ink;
  chars.forEach((ch, i) => {
    const x = c.strip.x[at[i]];
    if (x === undefined) return;
    box.append(h('span', { text: ch, style: { left: x + 'px' } }));
  });
}

function optLabel(c, v) {
  const o = (c.opts || []).find((x) => x.v === v);
  return v ? (o ? o.l : v) : 'tidak dicentang';
}

class Screen {
  constructor(root, send) {
    this.root = root; this.send = send; this.view = null; this.ahead = [];
    this.inflight = null; this.waiting = []; this.cells = new Map();
    this.onKey = (e) => this.key(e);
    document.addEventListener('keydown', this.onKey, true);
  }

  destroy() { document.removeEventListener('keydown', this.onKey, true); }

  update(data) {
    this.data = data;
    DRAFTS = 'susulan-drafts:' + (data.user || '');
    if (data.settled && data.settled.length) dropDrafts(data.settled);
    if (this.inflight && data.ack === this.inflight) {
      const log = (window.__susulanLog || []).find((x) => x.id === this.inflight);
      if (log) log.acked = performance.now();
      this.inflight = null;
      if (data.failed) this.waiting = [];
    }
    const cur = data.current;
    this.ahead = (data.ahead || []).filter((v) => v && (!cur || v.key !== cur.key));
    // the person already left this sheet (an approval or skip still waiting its turn): stay where they are
    const left = cur && this.view && this.view.key !== cur.key
      && this.waiting.some((a) => a.key === cur.key && (a.kind === 'approve' || a.kind === 'skip'));
    if (left) {
      const at = this.ahead.findIndex((v) => v.key === this.view.key);
      this.ahead = at >= 0 ? this.ahead.slice(at + 1) : [];
    } else if (!cur) { this.empty(data.done_text || ''); }
    else if (this.view && this.view.key === cur.key && this.view.stamp === cur.stamp) { this.messages(data.messages); }
    else { this.render(cur, this.view && this.view.key === cur.key); this.messages(data.messages); }
    if (!this.inflight && this.waiting.length) this.dispatch(this.waiting.shift());
  }

  empty(text) {
    this.view = null; this.cells.clear();
    this.root.textContent = '';
    this.root.append(h('div', { cls: 'sus-empty', text }));
    window.__susulan = null;
  }

  // --- drawing -------------------------------------------------------------------------------

  render(view, same) {
    const focused = same && document.activeElement && document.activeElement.closest
      ? document.activeElement.closest('[data-field-id]') : null;
    const keepFocus = focused ? +focused.dataset.fieldId : null;
    this.view = view; this.cells.clear();
    this.voids = new Set();
    const saved = drafts();
    for (const [rid, v] of Object.entries(view.records || {})) {
      const d = saved['r' + rid];
      if (d && d.v === v) this.voids.add(+rid); else if (d) dropDrafts(['r' + rid]);
    }
    this.root.textContent = '';
    const head = h('div', { cls: 'sus-head' },
      h('div', { cls: 'sus-title' }, h('strong', { text: view.page_key || view.title }),
        view.page_key ? h('span', { text: ' · ' + view.title }) : null,
        view.source ? h('span', { cls: 'sus-muted', text: ' · ' + view.source }) : null,
        view.state ? h('span', { cls: 'sus-state', text: view.state }) : null),
      view.position ? h('div', { cls: 'sus-muted', text: view.position }) : null);
    this.root.append(head);
    this.msgBox = h('div', { cls: 'sus-messages', role: 'status' });
    this.root.append(this.msgBox);
    for (const m of view.record_issues || []) this.msgBox.append(h('div', { cls: 'sus-msg warning', text: m }));
    const body = view.layout === 'table' ? this.table(view) : this.lines(view.cells, view.grid);
    this.voidBox = view.layout === 'table' || view.grid ? null : body;  // a one-record form, struck through whole
    this.root.append(body);
    this.root.append(this.footer(view));
    if (view.grid) this.fitBatch();
    for (const rid of this.voids) this.paintVoid(rid);
    for (const rid of view.struck || []) {  // the row the "tampak dicoret" message means
      const tr = this.root.querySelector(`tr[data-record-id="${rid}"]`);
      if (tr) tr.classList.add('sus-struck');
    }
    const order = this.order();
    window.__susulan = { record: view.page_id || view.key, page: view.page_id || null,
      records: Object.keys(view.records || {}).map(Number), approve: 'approve', ready: true };
    const target = keepFocus && this.cells.get(keepFocus) ? keepFocus : (order.length ? order[0] : null);
    this.pendingFocus = view;
    requestAnimationFrame(() => {
      if (this.pendingFocus !== view) return;  // a message already put the focus beside itself
      this.pendingFocus = null;
      if (target !== null) this.focusCell(target); else this.focusApprove();
    });
  }

  // fields printed side by side on the paper stay side by side; lone ones line up their values
  lines(cells, grid) {
    const box = h('div', { cls: 'sus-lines' + (grid ? ' sus-grid' : '') });
    const groups = [];
    for (const c of cells) {
      const last = groups[groups.length - 1];
      if (last && c.line && last[0].line === c.line) last.push(c); else groups.push([c]);
    }
    const lone = groups.filter((g) => g.length === 1).map((g) => g[0].w || 0);
    box.style.setProperty('--ev', Math.max(0, ...lone) + 'px');
    for (const g of groups) {
      box.append(h('div', { cls: 'sus-paperline' + (g.length === 1 ? ' single' : '') }, g.map((c) => this.line(c))));
    }
    return box;
  }

  line(c) {
    const ev = this.evidence(c);
    const side = this.side(c);
    const row = h('div', { cls: 'sus-line', data: { fieldId: c.id } },
      h('div', { cls: 'sus-label' }, c.n ? h('span', { cls: 'sus-tag', text: String(c.n) }) : null,
        h('span', { text: c.label })),
      ev, side);
    this.bind(c, row, this.view && !this.view.grid ? this.formRecord() : null);
    return row;
  }

  evidence(c) {
    const img = c.img ? h('img', { src: c.img, width: c.w, height: c.h, alt: 'potongan ' + c.label,
      draggable: 'false' }) : h('div', { cls: 'sus-noimg', text: '(tidak ada potongan gambar)' });
    const strip = h('div', { cls: 'sus-strip', style: { width: c.w + 'px' } });
    return h('div', { cls: 'sus-evidence' }, img, c.kind === 'choice' ? null : strip);
  }

  side(c) {
    const side = h('div', { cls: 'sus-side' });
    if (c.kind === 'choice') {
      const opts = h('div', { cls: 'sus-opts', role: 'radiogroup', 'aria-label': c.label });
      const all = [...c.opts, { v: '', l: 'tidak dicentang' }];
      all.forEach((o, i) => {
        const num = o.v === '' ? 0 : i + 1;
        opts.append(h('button', { type: 'button', cls: 'sus-opt', role: 'radio', data: { opt: o.v },
          tabindex: '-1', text: `${num} ${o.l}`, disabled: c.locked,
          onclick: (e) => { e.preventDefault(); this.pick(c.id, o.v, false); } }));
      });
      const holder = h('input', { cls: 'sus-choice-focus', type: 'text', readonly: true,
        'aria-label': c.label, tabindex: c.ask ? '0' : '-1', disabled: c.locked });
      side.append(holder, h('div', { cls: 'sus-chosen' }), opts);
      if (!c.ask && !c.locked) side.addEventListener('click', (e) => {
        const holderBox = side.closest('[data-field-id]');
        if (e.target.closest('.sus-opt') || !holderBox) return;
        holderBox.classList.add('editing'); holder.focus();
      });
    } else {
      side.append(h('input', { cls: 'sus-input', type: 'text', spellcheck: 'false', autocomplete: 'off',
        'aria-label': c.label, disabled: c.locked, tabindex: c.ask ? '0' : '-1',
        placeholder: c.kind === 'date' ? 'tgl-bln-tahun' : (c.kind === 'time' ? 'jam:menit' : '') }));
    }
    if (c.alts && c.alts.length && !c.locked) {
      side.append(h('div', { cls: 'sus-alts' }, h('span', { cls: 'sus-muted', text: 'atau: ' }),
        c.alts.map((a, i) => h('button', { type: 'button', cls: 'sus-alt', tabindex: '-1', data: { suggestion: a },
          onclick: (e) => { e.preventDefault(); this.take(c.id, i); } },
          h('kbd', { text: `Alt+${i + 1}` }), ' ', this.diff(a, c.value)))));
    }
    for (const i of c.issues || []) side.append(h('div', { cls: 'sus-issue ' + (i.b ? 'blocking' : 'warning'), text: i.t }));
    if (c.note) side.append(h('div', { cls: 'sus-note', text: c.note }));
    if (c.by) side.append(h('div', { cls: 'sus-note', text: c.by }));
    side.append(h('div', { cls: 'sus-conflict', role: 'alert' }));
    return side;
  }

  // an alternative with the characters that differ from the current value marked
  diff(alt, cur) {
    const span = h('span', { cls: 'sus-alt-text' });
    [...alt].forEach((ch, i) => span.append(ch !== (cur || '')[i] ? h('b', { text: ch }) : ch));
    return span;
  }

  table(view) {
    const wrap = h('div', { cls: 'sus-table-wrap' });
    if (view.shared && view.shared.length) wrap.append(this.lines(view.shared, false));
    const thead = h('tr', {}, h('th', { text: 'Baris' }), view.columns.map((c) => h('th', { text: c.label })));
    const body = h('tbody');
    for (const r of view.rows) {
      const tr = h('tr', { cls: r.open ? '' : 'sus-closed', data: { recordId: r.id } },
        h('td', { cls: 'sus-rowno' }, h('div', { text: String(r.no) }),
          r.open ? h('button', { type: 'button', cls: 'sus-void-btn', tabindex: '-1', 'aria-pressed': 'false',
            title: 'Baris ini bukan pasien '
            + '(dicoret, salah tulis, kosong): tidak disetujui, tidak diekspor · Alt+X',
          onclick: (e) => { e.preventDefault(); this.toggleVoid(r.id); } }, 'bukan pasien')
            : h('div', { cls: 'sus-muted', text: r.state })));
      for (const col of view.columns) {
        const c = r.cells[col.name];
        if (!c) { tr.append(h('td')); continue; }
        const td = h('td', { cls: 'sus-cell', data: { fieldId: c.id }, style: { width: Math.max(c.w, 96) + 'px' } },
          c.n ? h('span', { cls: 'sus-tag', text: String(c.n) }) : null, this.evidence(c), this.side(c));
        this.bind(c, td, r.open ? r.id : null);
        tr.append(td);
      }
      body.append(tr);
    }
    wrap.append(h('table', { cls: 'sus-table' }, h('thead', {}, thead), body));
    return wrap;
  }

  footer(view) {
    const grid = view.grid;
    const approveText = grid ? 'Benar semua yang tampil' : 'Setujui formulir';
    this.approveBtn = h('button', { type: 'button', cls: 'sus-btn primary', data: { action: 'approve' },
      disabled: view.locked, onclick: () => this.act(grid ? 'confirm' : 'approve') }, approveText,
    h('kbd', { text: 'Enter' }));
    this.note = h('input', { cls: 'sus-note-input', type: 'text', placeholder: 'Catatan untuk supervisor (boleh kosong)',
      'aria-label': 'Catatan', disabled: view.locked });
    const buttons = [this.approveBtn];
    if (!grid) {
      buttons.push(h('button', { type: 'button', cls: 'sus-btn', data: { action: 'save' }, disabled: view.locked,
        onclick: () => this.act('save') }, 'Simpan saja', h('kbd', { text: 'Alt+S' })));
      buttons.push(h('button', { type: 'button', cls: 'sus-btn', data: { action: 'flag' }, disabled: view.locked,
        onclick: () => this.act('flag') }, 'Tandai untuk supervisor', h('kbd', { text: 'Alt+T' })));
      this.voidBtn = null;
      if (view.layout !== 'table' && !view.locked) {
        this.voidBtn = h('button', { type: 'button', cls: 'sus-btn quiet sus-void-form', data: { action: 'void' },
          'aria-pressed': 'false',
          title: 'Formulir ini bukan pasien (dicoret, salah isi, lembar kosong): tidak disetujui, tidak diekspor',
          onclick: () => this.toggleVoid(this.formRecord()) }, 'Bukan pasien ', h('kbd', { text: 'Alt+X' }));
        buttons.push(this.voidBtn);
      }
      if (view.admin && view.blocking) {
        buttons.push(h('button', { type: 'button', cls: 'sus-btn', data: { action: 'override' },
          onclick: () => this.act('override') }, 'Setujui walau ada masalah (admin, tulis alasan)'));
      }
      if (view.locked && view.can_reopen) {
        buttons.push(h('button', { type: 'button', cls: 'sus-btn', data: { action: 'reopen' },
          onclick: () => this.act('reopen') }, 'Buka lagi untuk diperiksa'));
      }
    }
    const nav = grid ? [] : [
      h('button', { type: 'button', cls: 'sus-btn quiet', data: { action: 'back' }, disabled: !view.can_back,
        onclick: () => this.act('back') }, '← Kembali', h('kbd', { text: 'Alt+B' })),
      h('button', { type: 'button', cls: 'sus-btn quiet', data: { action: 'skip' },
        onclick: () => this.act('skip') }, 'Lewati →', h('kbd', { text: 'Alt+L' }))];
    this.footMsg = h('div', { cls: 'sus-foot-msg', role: 'status' });
    this.voidNote = h('div', { cls: 'sus-void-note', role: 'status' });
    return h('div', { cls: 'sus-foot' }, this.footMsg, this.voidNote,
      h('div', { cls: 'sus-buttons' }, buttons, grid ? null : this.note, h('span', { cls: 'sus-spacer' }), nav),
      h('div', { cls: 'sus-help', text: grid
        ? 'Enter: benar, ke baris berikutnya · Alt+1/2/3: ambil kemungkinan lain · ketik untuk memperbaiki · '
          + 'Esc: kembalikan nilai · Enter di tombol: benarkan semua baris yang tampil'
        : 'Enter: benar, ke isian bertanda berikutnya, lalu ke tombol Setujui · Alt+1/2/3: ambil kemungkinan lain · '
          + '1–9: pilih kotak centang (0 = kosong) · ↓/↑: isian lain · Esc: kembalikan nilai · '
          + 'Alt+X: ' + (view.layout === 'table' ? 'baris' : 'formulir') + ' ini bukan pasien · '
          + 'Alt+T: tandai · Alt+L: lewati · Alt+B: kembali' }));
  }

  // only the rows that fit on the screen form the batch; the rest wait for the next one
  fitBatch() {
    const foot = this.root.querySelector('.sus-foot');
    const limit = window.innerHeight - (foot ? foot.offsetHeight : 120) - 8;
    let shown = 0;
    for (const line of [...this.root.querySelectorAll('.sus-line')]) {
      if (shown >= 3 && line.getBoundingClientRect().bottom > limit) {
        this.cells.delete(+line.dataset.fieldId);
        (line.closest('.sus-paperline') || line).remove();
        continue;
      }
      shown++;
    }
    this.approveBtn.firstChild.textContent = `Benar semua yang tampil (${shown}) `;
  }

  // --- cells ---------------------------------------------------------------------------------

  bind(c, holder, record) {
    const d = drafts()[c.id];
    const item = { c, holder, record: record || null, input: holder.querySelector('.sus-input, .sus-choice-focus'),
      strip: holder.querySelector('.sus-strip'), value: c.value, conflict: holder.querySelector('.sus-conflict') };
    this.cells.set(c.id, item);
    if (d && !c.locked) {
      if (d.v === c.v) item.value = d.value;
      else if (d.value !== c.value) {
        item.value = d.value;
        item.conflict.textContent = `Nilai ini diubah orang lain sejak Anda mengetik: sekarang "${
          c.kind === 'choice' ? optLabel(c, c.value) : c.value}". Isian Anda "${
          c.kind === 'choice' ? optLabel(c, d.value) : d.value}" belum disimpan — periksa lalu simpan.`;
        putDraft(c.id, c.v, d.value);
      } else dropDrafts([c.id]);
    }
    if (c.msg) item.conflict.textContent = c.msg;
    holder.classList.toggle('ask', !!c.ask);
    holder.classList.toggle('locked', !!c.locked);
    if (c.kind !== 'choice') {
      item.input.value = item.value;
      item.input.addEventListener('input', () => this.typed(c.id));
      if (!c.ask && !c.locked) holder.addEventListener('click', (e) => {
        if (e.target.closest('button')) return;
        holder.classList.add('editing'); item.input.focus(); item.input.select();
      });
    }
    this.paint(item);
  }

  paint(item) {
    const { c } = item;
    const dirty = item.value !== c.value;
    item.holder.classList.toggle('dirty', dirty);
    if (c.kind === 'choice') {
      item.holder.querySelectorAll('.sus-opt').forEach((b) => {
        const on = b.dataset.opt === item.value;
        b.classList.toggle('on', on); b.setAttribute('aria-checked', on ? 'true' : 'false');
      });
      if (item.input) item.input.value = optLabel(c, item.value);
      const chosen = item.holder.querySelector('.sus-chosen');
      if (chosen) chosen.textContent = optLabel(c, item.value);
    } else if (item.strip) drawStrip(item.strip, c, item.value);
  }

  typed(id) {
    const item = this.cells.get(id);
    item.value = item.input.value;
    if (item.value === item.c.value) dropDrafts([id]); else putDraft(id, item.c.v, item.value);
    this.paint(item);
  }

  pick(id, v, advance) {
    const item = this.cells.get(id);
    if (!item || item.c.locked) return;
    item.value = v;
    if (v === item.c.value) dropDrafts([id]); else putDraft(id, item.c.v, v);
    this.paint(item);
    if (advance) this.advance(id); else this.focusCell(id);
  }

  take(id, i) {
    const item = this.cells.get(id);
    const alt = item && item.c.alts[i];
    if (alt === undefined) return;
    item.input.value = alt;
    this.typed(id);
    this.advance(id);
  }

  order() { return [...this.cells.values()].filter((x) => x.c.ask && this.live(x)).map((x) => x.c.id); }

  all() { return [...this.cells.values()].filter((x) => this.live(x)).map((x) => x.c.id); }

  // a value the person can still act on: not locked, not in a row they said is no patient
  live(item) { return !item.c.locked && !(item.record !== null && this.voids.has(item.record)); }

  // the one open record of a one-record form (null on a queue sheet or when it is closed)
  formRecord() {
    const ids = Object.keys((this.view && this.view.records) || {});
    return this.view && this.view.layout !== 'table' && ids.length === 1 ? +ids[0] : null;
  }

  // Alt+X or the row's button: this row (this form) is no patient; again: it is
  toggleVoid(rid) {
    if (rid === null || rid === undefined || !this.view || !(String(rid) in (this.view.records || {}))) return;
    if (this.voids.has(rid)) { this.voids.delete(rid); dropDrafts(['r' + rid]); }
    else { this.voids.add(rid); putDraft('r' + rid, this.view.records[String(rid)], 'void'); }
    this.paintVoid(rid);
    const mine = [...this.cells.values()].filter((x) => x.record === rid).map((x) => x.c.id);
    if (this.voids.has(rid)) {
      const last = mine.length ? mine[mine.length - 1] : null;
      if (last !== null) this.advance(last); else this.focusApprove();
    } else {
      const first = mine.find((id) => this.cells.get(id).c.ask);
      if (first !== undefined) this.focusCell(first);
    }
  }

  paintVoid(rid) {
    const on = this.voids.has(rid);
    const tr = this.root.querySelector(`tr[data-record-id="${rid}"]`);
    const box = tr || (this.formRecord() === rid ? this.voidBox : null);
    if (box) box.classList.toggle('sus-void', on);
    const btn = tr ? tr.querySelector('.sus-void-btn') : (this.formRecord() === rid ? this.voidBtn : null);
    if (btn) { btn.classList.toggle('on', on); btn.setAttribute('aria-pressed', on ? 'true' : 'false'); }
    if (on) box?.querySelectorAll('.editing').forEach((x) => x.classList.remove('editing'));
    const what = this.view.layout === 'table' ? `${this.voids.size} baris` : 'Formulir ini';
    if (this.voidNote) this.voidNote.textContent = this.voids.size ? `${what} ditandai bukan pasien: tidak `
      + 'disetujui dan tidak diekspor (Alt+X lagi untuk membatalkan).' : '';
  }

  focusCell(id) {
    const item = this.cells.get(id);
    if (!item || !item.input) return false;
    item.holder.classList.add('editing');
    item.input.focus({ preventScroll: true });
    if (item.input.select && item.c.kind !== 'choice') item.input.select();
    item.holder.scrollIntoView({ block: 'center', behavior: 'instant' });
    return true;
  }

  focusApprove() {
    if (!this.approveBtn || this.approveBtn.disabled) return;
    this.approveBtn.focus({ preventScroll: true });
    this.approveBtn.scrollIntoView({ block: 'center', behavior: 'instant' });
  }

  // Enter: the next value needing a look after this one, else the approve button
  advance(id) {
    const ids = [...this.cells.keys()];
    const at = ids.indexOf(id);
    const next = ids.slice(at + 1).find((x) => { const it = this.cells.get(x); return it.c.ask && this.live(it); });
    const item = this.cells.get(id);
    if (item && !item.c.ask) item.holder.classList.remove('editing');
    if (next !== undefined) this.focusCell(next); else this.focusApprove();
  }

  step(id, delta) {
    const ids = this.all();
    const at = ids.indexOf(id);
    const to = ids[Math.min(Math.max(at + delta, 0), ids.length - 1)];
    if (to !== undefined) this.focusCell(to);
  }

  // --- keys ----------------------------------------------------------------------------------

  key(e) {
    if (!this.view || !this.root.isConnected) return;
    const code = e.code || '';
    if (e.altKey && !e.ctrlKey && !e.metaKey) {
      const nav = { KeyL: 'skip', KeyB: 'back', KeyT: 'flag', KeyS: 'save' }[code];
      if (nav && !this.view.grid) { e.preventDefault(); e.stopPropagation(); this.act(nav); return; }
      if (code === 'KeyX' && !this.view.grid) {
        e.preventDefault(); e.stopPropagation();
        const at = e.target && e.target.closest ? e.target.closest('[data-field-id]') : null;
        const item = at ? this.cells.get(+at.dataset.fieldId) : null;
        const row = e.target && e.target.closest ? e.target.closest('tr[data-record-id]') : null;
        this.toggleVoid(item && item.record !== null ? item.record : row ? +row.dataset.recordId : this.formRecord());
        return;
      }
    }
    const holder = e.target && e.target.closest ? e.target.closest('[data-field-id]') : null;
    if (!holder || !this.root.contains(holder)) {
      if (e.target === this.note && e.key === 'Enter') { e.preventDefault(); this.act('flag'); }
      return;
    }
    const id = +holder.dataset.fieldId;
    const item = this.cells.get(id);
    if (!item || item.c.locked) return;
    if (e.altKey && /^Digit[1-3]$/.test(code)) { e.preventDefault(); e.stopPropagation(); this.take(id, +code.slice(5) - 1); return; }
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    if (item.c.kind === 'choice' && /^[0-9]$/.test(e.key)) {
      e.preventDefault(); e.stopPropagation();
      const n = +e.key;
      if (n === 0) this.pick(id, '', true);
      else if (n <= item.c.opts.length) this.pick(id, item.c.opts[n - 1].v, true);
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); e.stopPropagation(); this.advance(id); return; }
    if (e.key === 'Escape') {
      e.preventDefault(); e.stopPropagation();
      if (item.input && item.c.kind !== 'choice') { item.input.value = item.c.value; this.typed(id); }
      else this.pick(id, item.c.value, false);
      return;
    }
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault(); e.stopPropagation(); this.step(id, e.key === 'ArrowDown' ? 1 : -1);
    }
  }

  // --- actions -------------------------------------------------------------------------------

  act(kind) {
    const view = this.view;
    if (!view) return;
    if ((kind === 'approve' || kind === 'confirm' || kind === 'flag' || kind === 'save') && view.locked) return;
    const edits = {};
    const look = {};
    for (const item of this.cells.values()) {
      if (!this.live(item)) continue;
      if (item.value !== item.c.value) edits[item.c.id] = { v: item.c.v, value: item.value };
      else if (item.c.ask) look[item.c.id] = item.c.v;
    }
    const action = { id: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, kind, key: view.key,
      page: view.page_id || null, edits, look, records: view.records || {}, void: [...(this.voids || [])],
      note: this.note ? this.note.value : '' };
    // a sheet without a failing rule is left at once for the next one (it came with this one)
    // a failing rule is likely settled when every value it names was changed; the server has the last word
    const allVoid = Object.keys(view.records || {}).every((rid) => this.voids.has(+rid));
    const blocked = !allVoid && (view.record_blocking || [...this.cells.values()].some((it) => this.live(it)
      && (it.c.issues || []).some((i) => i.b) && it.value === it.c.value));
    const leave = (kind === 'approve' && !blocked) || kind === 'skip';
    action.instant = !!(leave && this.ahead.length);
    if (action.instant) {
      this.render(this.ahead.shift(), false);
    } else {
      this.footMsg.textContent = 'Menyimpan…';
      this.root.classList.add('busy');
    }
    if (this.inflight) this.waiting.push(action); else this.dispatch(action);
  }

  dispatch(action) {
    this.inflight = action.id;
    (window.__susulanLog = window.__susulanLog || []).push({ id: action.id, kind: action.kind, instant: action.instant,
      sent: performance.now(), acked: null });
    this.send('action', action);
  }

  messages(list) {
    if (!this.view) return;
    this.root.classList.remove('busy');
    if (this.footMsg) this.footMsg.textContent = '';
    for (const m of list || []) {
      if (m.field && this.cells.get(m.field)) {
        this.cells.get(m.field).conflict.textContent = m.text;
      } else {
        this.msgBox.append(h('div', { cls: 'sus-msg ' + (m.kind || 'info'), text: m.text }));
      }
    }
    if ((list || []).some((m) => m.kind === 'error' || m.kind === 'warning')) {
      const first = (list || []).find((m) => m.field && this.cells.get(m.field));
      if (first) { this.pendingFocus = null; this.focusCell(first.field); }
    }
  }
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector('.sus');
  if (!root) {
    root = h('div', { cls: 'sus' });
    parentElement.append(root);
  }
  if (!root.__screen) root.__screen = new Screen(root, setTriggerValue);
  root.__screen.send = setTriggerValue;
  root.__screen.update(data || {});
  return () => { if (root.__screen) { root.__screen.destroy(); root.__screen = null; } };
}
