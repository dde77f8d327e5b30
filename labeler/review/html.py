"""review/index.html: one self-contained page (inline CSS and JS, no network, the audit page's
Content-Security-Policy) on which a radiologist reads the sample one report at a time and sets
each region's state; answers stay in the browser's localStorage and export as gold.csv.

Report text is escaped here (labeler.audit.html.highlight) into inert <template> elements; the
script clones them and otherwise sets only textContent and form values, so nothing from a report
is ever parsed as markup. The data the script needs travels as JSON inside a
<script type="application/json"> with every <, > and & written as a \\u escape, so no report text
can close that element.
"""

from __future__ import annotations

import json
from html import escape

from labeler.audit.html import highlight
from labeler.audit.record import HitRecord

_KEYS = {"p": "positive", "u": "uncertain", "n": "negative", "m": "not_mentioned"}

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0;color:#222}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ccc;padding:.4em 1em;
z-index:1}header h1{font-size:1.1em;margin:.2em 0}.bar>*{margin-right:.6em}
#msg{color:#a00}main{display:flex;gap:1em;padding:0 1em}
nav{flex:0 0 11em;max-height:calc(100vh - 6em);overflow:auto;font-size:.85em}
nav ol{margin:.5em 0;padding-left:2.5em}nav button{border:0;background:none;cursor:pointer;
padding:1px 3px;text-align:left;font:inherit}nav .done{color:#2b8a3e}nav .done::after{content:" ✓"}
nav .cur{background:#dbe4ff;border-radius:3px}#card{flex:1;max-width:60em}
.text{white-space:pre-wrap;font-size:1.2em;line-height:1.9;border:1px solid #ddd;padding:.6em;
border-radius:4px;margin:.5em 0}
mark{border-radius:3px;padding:0 1px}.k-finding{background:#ffc9c9}.k-normal{background:#c3f0c8}
.k-negation{background:#d0bfff}.k-uncertainty{background:#ffe08a}.k-pseudo{background:#dee2e6}
.k-suppress{background:#dee2e6;text-decoration:line-through}.k-anchor{background:#a5d8ff}
.k-terminator,.k-conjunction,.k-qualifier{background:#f1f3f5;outline:1px dotted #999}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}tr.sel{outline:2px solid #4c6ef5}tr.unset th{color:#c00}
tr.changed td{background:#fff3bf}td{white-space:nowrap}td.ev{white-space:normal}
label{cursor:pointer;margin-right:.5em;white-space:nowrap}.ev{font-size:.8em;color:#555}
.hint{font-size:.8em;color:#888}#note{width:100%;box-sizing:border-box}
.status-done{color:#2b8a3e;font-weight:bold}.status-open{color:#888}.err{color:#c00}
kbd{border:1px solid #bbb;border-radius:3px;padding:0 3px;font-size:.85em;background:#f8f9fa}
"""

_JS = """
(function(){
'use strict';
var data=JSON.parse(document.getElementById('review-data').textContent);
var regions=data.regions,reports=data.reports,KEY='cxrlabel-review:'+data.id;
var KEYS=%(keys)s;
var $=function(id){return document.getElementById(id);};
var reviewer=$('reviewer'),note=$('note'),text=$('text'),msgBox=$('msg'),
    rows=Array.prototype.slice.call(document.querySelectorAll('#regions tr[data-region]')),
    items=Array.prototype.slice.call(document.querySelectorAll('#list button'));
var store={reviewer:'',current:0,answers:{}},cur=0,sel=0;
function msg(s){msgBox.textContent=s;}
try{
  var saved=window.localStorage.getItem(KEY);
  if(saved){var parsed=JSON.parse(saved);if(parsed&&parsed.answers)store=parsed;}
}catch(e){msg('progress cannot be kept in this browser ('+e.message+'): export often');}
Object.keys(data.imported).forEach(function(id){
  var imp=data.imported[id],mine=store.answers[id];
  if(!mine||!mine.done||(imp.at||'')>(mine.at||''))
    store.answers[id]={states:imp.states,note:imp.note,reviewer:imp.reviewer,at:imp.at,done:true};
});
function save(){
  store.reviewer=reviewer.value;store.current=cur;
  try{window.localStorage.setItem(KEY,JSON.stringify(store));}
  catch(e){msg('could not save progress ('+e.message+'): export now');}
}
function now(){return new Date().toISOString().replace(/\\.\\d+Z$/,'Z');}
function answer(r){return store.answers[r.id];}
function statesOf(r){var a=answer(r);return a?a.states:(data.blind?{}:r.states);}
function ensure(r){
  var a=store.answers[r.id];
  if(!a){
    var st={};if(!data.blind)regions.forEach(function(g){st[g]=r.states[g];});
    a=store.answers[r.id]={states:st,note:'',reviewer:'',at:'',done:false};
  }
  return a;
}
function touched(a){if(a.done){a.at=now();a.reviewer=reviewer.value.trim();}}
function paintList(i){
  var a=answer(reports[i]);items[i].classList.toggle('done',!!(a&&a.done));
}
function progress(){
  var n=0;reports.forEach(function(r){var a=answer(r);if(a&&a.done)n++;});
  $('progress').textContent=n+' of '+reports.length+' reviewed';$('pbar').value=n;
}
function select(i){
  sel=Math.max(0,Math.min(regions.length-1,i));
  rows.forEach(function(tr,j){tr.classList.toggle('sel',j===sel);});
}
function paintStates(){
  var r=reports[cur],st=statesOf(r);
  rows.forEach(function(tr){
    var g=tr.getAttribute('data-region');
    tr.querySelectorAll('input').forEach(function(inp){inp.checked=(st[g]===inp.value);});
    tr.classList.toggle('unset',!st[g]);
    tr.classList.toggle('changed',!data.blind&&!!st[g]&&st[g]!==r.states[g]);
  });
  var a=answer(r);
  $('status').textContent=a&&a.done?'reviewed'+(a.reviewer?' by '+a.reviewer:'')+
    (a.at?' at '+a.at:''):'not reviewed yet';
  $('status').className=a&&a.done?'status-done':'status-open';
}
function show(i){
  cur=Math.max(0,Math.min(reports.length-1,i));
  var r=reports[cur];
  text.replaceChildren($('t'+cur).content.cloneNode(true));
  $('rid').textContent=r.id;
  $('meta').textContent='#'+(cur+1)+' of '+reports.length+' · row '+r.row+' · stratum '+
    r.stratum;
  $('error').textContent=r.error?'could not be labelled: '+r.error:'';
  rows.forEach(function(tr){
    var g=tr.getAttribute('data-region');
    tr.querySelector('.ev').textContent=data.blind?'':(r.evidence[g]||'');
    tr.querySelector('.hint').textContent=data.blind?'':'labeler: '+(r.states[g]||'-');
  });
  var a=answer(r);note.value=a?a.note:'';
  items.forEach(function(b,j){b.classList.toggle('cur',j===cur);});
  items[cur].scrollIntoView({block:'nearest'});
  paintStates();select(0);save();
}
function setState(i,state){
  var r=reports[cur],a=ensure(r);a.states[regions[i]]=state;touched(a);
  save();paintStates();
}
function confirm(){
  var r=reports[cur],a=ensure(r);
  var missing=regions.filter(function(g){return !a.states[g];});
  if(missing.length){msg('set '+missing.join(', ')+' first');select(regions.indexOf(missing[0]));
    return;}
  a.note=note.value;a.done=true;touched(a);msg('');save();paintList(cur);progress();
  if(cur<reports.length-1)show(cur+1);else paintStates();
}
function nextOpen(){
  for(var k=1;k<=reports.length;k++){
    var j=(cur+k)%%reports.length,a=answer(reports[j]);
    if(!a||!a.done){show(j);return;}
  }
  msg('every report is reviewed: export gold.csv');
}
function cell(v){v=String(v==null?'':v);return /[",\\r\\n]/.test(v)?'"'+v.replace(/"/g,'""')+'"':v;}
function exportGold(){
  var name=reviewer.value.trim();
  var done=reports.filter(function(r){var a=answer(r);return a&&a.done;});
  if(!done.length){msg('nothing reviewed yet');return;}
  if(!name&&done.some(function(r){return !answer(r).reviewer;})){
    msg('enter your name first');reviewer.focus();return;}
  var lines=[data.columns.join(',')];
  done.forEach(function(r){
    var a=answer(r);
    var vec=regions.map(function(g){var s=a.states[g];return s==='positive'||s==='uncertain'?1:0;});
    var st=regions.map(function(g){return a.states[g];});
    lines.push([r.id].concat(vec,st,[a.note,a.reviewer||name,a.at]).map(cell).join(','));
  });
  var blob=new Blob([lines.join('\\n')+'\\n'],{type:'text/csv;charset=utf-8'});
  var link=document.createElement('a');
  link.href=URL.createObjectURL(blob);link.download='gold.csv';
  document.body.appendChild(link);link.click();link.remove();
  msg('exported '+done.length+' reports to gold.csv');
}
rows.forEach(function(tr,i){
  tr.addEventListener('click',function(){select(i);});
  tr.querySelectorAll('input').forEach(function(inp){
    inp.addEventListener('change',function(){setState(i,inp.value);});
  });
});
$('list').addEventListener('click',function(e){
  var b=e.target.closest('button');if(b)show(+b.getAttribute('data-i'));
});
note.addEventListener('input',function(){
  var a=ensure(reports[cur]);a.note=note.value;touched(a);save();
});
reviewer.addEventListener('input',save);
$('done').addEventListener('click',confirm);
$('prev').addEventListener('click',function(){show(cur-1);});
$('next').addEventListener('click',function(){show(cur+1);});
$('next-open').addEventListener('click',nextOpen);
$('export').addEventListener('click',exportGold);
document.addEventListener('keydown',function(e){
  var t=e.target,k=e.key;
  if(t.tagName==='TEXTAREA'||(t.tagName==='INPUT'&&t.type==='text')){
    if(k==='Escape'){t.blur();e.preventDefault();}
    return;
  }
  if(e.ctrlKey||e.metaKey||e.altKey)return;
  if(/^[1-9]$/.test(k)&&+k<=regions.length)select(+k-1);
  else if(KEYS[k]){setState(sel,KEYS[k]);select(sel+1);}
  else if(k==='ArrowDown')select(sel+1);
  else if(k==='ArrowUp')select(sel-1);
  else if(k==='Enter')confirm();
  else if(k==='ArrowRight'||k==='j')show(cur+1);
  else if(k==='ArrowLeft'||k==='k')show(cur-1);
  else if(k==='t')note.focus();
  else if(k==='o')nextOpen();
  else if(k==='?')$('help').open=!$('help').open;
  else return;
  e.preventDefault();
});
reviewer.value=store.reviewer||'';
items.forEach(function(b,i){paintList(i);});
progress();show(Math.min(store.current||0,reports.length-1));
document.body.setAttribute('data-ready','1');
if(window.performance&&performance.mark)performance.mark('cxrlabel-review-ready');
})();
"""


def _json_for_script(value: object) -> str:
    """JSON that no text inside can end the <script> element it sits in."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _region_rows(regions: list[str], names: dict[str, str], states: list[str]) -> str:
    out = []
    for i, region in enumerate(regions):
        choices = "".join(
            f'<label><input type="radio" name="st-{escape(region)}" value="{escape(s)}">'
            f"{escape(s.replace('_', ' '))}</label>"
            for s in states
        )
        name = names.get(region, "")
        out.append(
            f'<tr data-region="{escape(region)}"><th><kbd>{i + 1}</kbd> {escape(region)} '
            f'{escape(name)}</th><td>{choices}<div class="hint"></div></td>'
            '<td class="ev"></td></tr>'
        )
    return "".join(out)


def _keyboard_help(regions: list[str]) -> str:
    keys = [
        (f"1–{len(regions)}", "choose a region"),
        ("↑ ↓", "previous / next region"),
        *(
            (k, f"set the chosen region {v.replace('_', ' ')}, go to the next")
            for k, v in _KEYS.items()
        ),
        ("Enter", "report reviewed: keep these states, go to the next report"),
        ("→ j / ← k", "next / previous report"),
        ("o", "next report not reviewed yet"),
        ("t", "write a note (Esc leaves it)"),
        ("?", "show or hide this help"),
    ]
    return "".join(f"<li><kbd>{escape(k)}</kbd> {escape(what)}</li>" for k, what in keys)


def render_page(data: dict) -> str:
    """The page for review.json's `data` (see labeler.review.write.review_data)."""
    regions = list(data["regions"])
    reports = data["reports"]
    names = data.get("region_names", {})
    blind = " (blind: the labeler's states are hidden)" if data["blind"] else ""
    # what the script needs, without the text: that is in the templates, escaped once
    script_data = {
        **{k: data[k] for k in ("id", "regions", "columns", "blind", "imported")},
        "reports": [
            {k: r[k] for k in ("id", "row", "stratum", "states", "evidence", "error")}
            for r in reports
        ],
    }
    templates = "".join(
        f'<template id="t{i}">'
        + highlight(r["text"], [HitRecord(h[0], h[1], h[2], h[3], 0) for h in r["hits"]])
        + "</template>"
        for i, r in enumerate(reports)
    )
    items = "".join(
        f'<li><button type="button" data-i="{i}">{escape(r["id"])}</button></li>'
        for i, r in enumerate(reports)
    )
    return "\n".join(
        [
            '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">',
            # no request of any kind may leave the page: it is opened from disk, often offline
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
            f"<title>cxrlabel review — {escape(data['pack'])}</title><style>{_CSS}</style>",
            "</head><body>",
            f"<header><h1>cxrlabel review — pack {escape(data['pack'])}, {len(reports)} "
            f"reports sampled from {data['population']}{escape(blind)}</h1>",
            '<div class="bar"><label>reviewer <input type="text" id="reviewer" '
            'placeholder="your name" autocomplete="name"></label>',
            f'<progress id="pbar" max="{len(reports)}" value="0"></progress>',
            '<span id="progress"></span>',
            '<button type="button" id="next-open">next not reviewed (o)</button>',
            '<button type="button" id="export">export gold.csv</button>',
            '<span id="msg" role="status"></span></div></header>',
            f'<main><nav><ol id="list">{items}</ol></nav><section id="card">',
            '<h2><span id="rid"></span> <small id="meta"></small></h2>',
            '<div id="error" class="err"></div><div id="text" class="text"></div>',
            f'<table id="regions">{_region_rows(regions, names, data["states"])}</table>',
            '<label for="note">note (t)</label><textarea id="note" rows="2"></textarea>',
            '<p><button type="button" id="prev">← previous</button> ',
            '<button type="button" id="done">reviewed (Enter)</button> ',
            '<button type="button" id="next">next →</button> <span id="status"></span></p>',
            '<details id="help" open><summary>keyboard</summary><ul>',
            _keyboard_help(regions),
            "</ul><p>Answers are kept in this browser as you go (localStorage); export "
            "gold.csv to hand them on. Only reports marked reviewed are exported.</p></details>",
            "</section></main>",
            templates,
            '<script type="application/json" id="review-data">'
            + _json_for_script(script_data)
            + "</script>",
            f"<script>{_JS % {'keys': json.dumps(_KEYS)}}</script></body></html>",
        ]
    )
