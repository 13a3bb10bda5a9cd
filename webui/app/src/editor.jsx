// editor.jsx — the Customizing section's JSON editor: CodeMirror 6 (from
// npm) with JSON syntax, folding, line numbers and a syntax linter, plus
// the markers of databusd's validation errors at the place they name.
//
// databusd says what is wrong as "<file>: <JSON path>: <problem>" (or
// "<file>: line L, column C: <problem>" for a syntax error, see
// docs/configuration.md, "Error messages"). problemRange() finds that
// place in the text through the editor's own JSON syntax tree, so the
// marker sits on the member the path names (or on the deepest part of it
// that exists: "$.passengers[0].pushers" when "pushers" is missing marks
// the definition's first line).
//
// The editor lives in a shadow root of its host element: CodeMirror styles
// itself at run time, into a <style> element in a document (which the CSP,
// default-src 'self', rightly refuses) but into a constructed style sheet
// (adoptedStyleSheets) in a shadow root, which the CSP allows.
import { useEffect, useRef } from 'preact/hooks';
import { EditorView, basicSetup } from 'codemirror';
import { json, jsonParseLinter } from '@codemirror/lang-json';
import { forceLinting, linter, lintGutter } from '@codemirror/lint';
import { ensureSyntaxTree, syntaxTree } from '@codemirror/language';

const VALUES = new Set(['Object', 'Array', 'String', 'Number', 'True', 'False', 'Null']);

// "$.a[2].b" or '$["odd key"]' into ['a', 2, 'b']; null if it is not one.
export function parsePath(path) {
  if (!path.startsWith('$')) return null;
  const segs = [];
  const re = /\.([A-Za-z0-9_@+\-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  let i = 1;
  while (i < path.length) {
    re.lastIndex = i;
    const m = re.exec(path);
    if (!m) return null;
    segs.push(m[1] !== undefined ? m[1] : m[2] !== undefined ? Number(m[2]) : JSON.parse(m[3]));
    i = re.lastIndex;
  }
  return segs;
}

const valueOf = (node) => {
  let v = null;
  for (let c = node.firstChild; c; c = c.nextSibling) if (VALUES.has(c.name)) v = c;
  return v;
};

// The deepest node of the text that `segs` reaches.
function nodeAt(state, segs) {
  const tree = ensureSyntaxTree(state, state.doc.length, 2000) || syntaxTree(state);
  let node = valueOf(tree.topNode);
  let best = node;
  for (const seg of segs) {
    if (!node) break;
    let next = null;
    if (typeof seg === 'string' && node.name === 'Object') {
      for (let c = node.firstChild; c && !next; c = c.nextSibling) {
        const k = c.name === 'Property' && c.getChild('PropertyName');
        let key = null;
        try {
          key = k && JSON.parse(state.sliceDoc(k.from, k.to));
        } catch {
          key = null;
        }
        if (key === seg) next = c;
      }
      if (next) {
        best = next;
        node = valueOf(next);
        continue;
      }
    } else if (typeof seg === 'number' && node.name === 'Array') {
      let n = 0;
      for (let c = node.firstChild; c && !next; c = c.nextSibling) if (VALUES.has(c.name) && n++ === seg) next = c;
      if (next) {
        best = next;
        node = next;
        continue;
      }
    }
    break;
  }
  return best;
}

// Where in `state` the error `message` points, as {from, to}, or null.
// `file` is the node's file: a message about another file marks nothing.
export function problemRange(state, message, file) {
  const base = (file || '').split('/').pop();
  if (base && !message.includes(base + ':')) return null;
  const lc = /line (\d+), column (\d+)/.exec(message);
  if (lc) {
    const line = state.doc.line(Math.min(Number(lc[1]), state.doc.lines));
    const from = Math.min(line.from + Math.max(0, Number(lc[2]) - 1), line.to);
    return { from, to: Math.min(from + 1, line.to) };
  }
  const pm = /(?:^|\s)(\$[^\s:]*)(?::|$)/.exec(message);
  const segs = pm && parsePath(pm[1]);
  if (!segs) return null;
  const node = nodeAt(state, segs);
  if (!node) return null;
  // One line is enough to show where: a whole object would paint half the
  // file.
  return { from: node.from, to: Math.min(node.to, state.doc.lineAt(node.from).to) };
}

// Size and frame; and lint marks drawn with CSS alone, since the lint
// package's own are data: images, which the CSP (default-src 'self')
// refuses.
const marks = (color, fill) => ({
  [`.cm-lintRange-${color}`]: { backgroundImage: 'none', textDecoration: `underline wavy ${fill}`, textDecorationSkipInk: 'none' },
  [`.cm-lint-marker-${color}`]: { content: 'none', borderRadius: '50%', backgroundColor: fill, width: '0.8em', height: '0.8em', margin: '0.1em' },
});
const theme = EditorView.theme({
  '&': { minHeight: '16rem', maxHeight: '36rem', border: '1px solid #dbdbdb', borderRadius: '4px', fontSize: '0.85rem' },
  '.cm-scroller': { overflow: 'auto', fontFamily: 'monospace' },
  ...marks('error', '#e33'),
  ...marks('warning', '#e90'),
  ...marks('info', '#999'),
  ...marks('hint', '#66d'),
});

export function CodeEditor({ value, onChange, label, problem, file }) {
  const host = useRef(null);
  const view = useRef(null);
  const change = useRef(onChange);
  change.current = onChange;
  // databusd's refusal: part of every lint run, so that the syntax
  // linter (which runs after each change) never wipes it out.
  const refusal = useRef({ problem, file });
  useEffect(() => {
    const shadow = host.current.shadowRoot || host.current.attachShadow({ mode: 'open' });
    const box = document.createElement('div');
    shadow.replaceChildren(box);
    const v = new EditorView({
      doc: value,
      root: shadow,
      parent: box,
      extensions: [
        basicSetup,
        theme,
        json(),
        linter((ev) => {
          const found = jsonParseLinter()(ev);
          const { problem: p, file: f } = refusal.current;
          const r = p ? problemRange(ev.state, p, f) : null;
          if (r) found.push({ from: r.from, to: r.to, severity: 'error', message: p, source: 'databusd' });
          return found;
        }, { delay: 300 }),
        lintGutter(),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': label }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) change.current(u.state.doc.toString());
        }),
      ],
    });
    view.current = v;
    return () => v.destroy();
  }, [label]);
  // A new value from outside (another node, Discard, a restore).
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);
  // databusd's refusal, marked where it says.
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    refusal.current = { problem, file };
    forceLinting(v);
    const r = problem ? problemRange(v.state, problem, file) : null;
    if (r) v.dispatch({ effects: EditorView.scrollIntoView(r.from, { y: 'center' }) });
  }, [problem, file]);
  return <div class="dbs-editor" ref={host} />;
}
