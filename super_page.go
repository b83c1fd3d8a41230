//go:build linux

package main

// The status page (GET / with -http): one self-contained HTML document, no
// external assets and no build step, so it works on a host with no route
// to anywhere and needs nothing but the binary. Its script polls /status
// every two seconds and redraws the swarm from that JSON alone.
//
// Everything it shows comes from the nodes (topics, errors), so the script
// builds its DOM with createElement and textContent only: a node that
// reports "<script>" as an error shows that text, it never becomes markup.
// The Content-Security-Policy pins the page's own script and style by hash,
// a second line behind that rule: no other script could run on this page.

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// page serves the status page with a policy that lets it load nothing but
// /status.
func (s *statusServer) page(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(statusPage))
}

// cspHash is a CSP source for exactly this inline text.
func cspHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// statusPage is the whole document; pageCSP allows its inline style and
// script by hash and, of the network, only fetches from its own origin.
var (
	statusPage = pageHead + "<style>" + pageCSS + "</style></head>\n" + pageBody +
		"<script>" + pageJS + "</script>\n</body></html>\n"
	pageCSP = "default-src 'none'; connect-src 'self'; script-src " + cspHash(pageJS) +
		"; style-src " + cspHash(pageCSS) + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// pageHead opens the document; the viewport line makes phones lay it out
// at their own width instead of a zoomed-out desktop one.
const pageHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>swarm</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
`

// pageCSS: tables on a wide screen; under 600px every table row becomes a
// card of "label: value" lines (the cells carry their label in data-label),
// so the page reads as one column on a phone without sideways scrolling.
const pageCSS = `
:root{--ok:#17803d;--warn:#b45309;--bad:#b91c1c;--mute:#8a8a8a;--line:#ddd;--own:#1d4ed8}
body{font:14px system-ui,sans-serif;margin:1em auto;max-width:1280px;padding:0 1em;color:#222}
h1{font-size:1.4em;margin:.2em 0}
h2{font-size:1.1em;margin:1.4em 0 .3em}
p.hint{margin:.2em 0 .5em;color:var(--mute);font-size:.9em}
#summary{display:flex;flex-wrap:wrap;gap:.2em 1.2em}
#summary span{white-space:nowrap}
.wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{padding:.3em .6em;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle;white-space:nowrap}
th{background:#f4f4f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.err{white-space:normal;word-break:break-word}
.running,.st0{color:var(--ok)}
.stopping,.warn{color:var(--warn);font-weight:600}
.down,.bad,.st-1,.st1,.st2,.st3,.st4{color:var(--bad);font-weight:600}
td.own{text-align:center;color:var(--own);font-weight:700}
tr.stale td{color:var(--mute);background:#f3f3f3}
tr.paused td{background:#fff1c2}
tr.paused td.retry{color:var(--warn);font-weight:600;white-space:normal;min-width:14em}
td.none{color:var(--mute);text-align:center}
svg.spark{display:block}
svg.spark line{stroke:var(--line);stroke-width:1}
svg.spark polyline{fill:none;stroke:var(--own);stroke-width:1.5}
svg.spark circle{fill:var(--own)}
tr.stale svg.spark polyline{stroke:var(--mute)}
tr.stale svg.spark circle{fill:var(--mute)}
#err{color:var(--bad)}
.narrow{display:none}
@media (max-width:600px){
 body{margin:.5em;padding:0}
 table,tbody,tr,td{display:block;width:auto}
 thead{display:none}
 tr{border:1px solid var(--line);border-radius:6px;margin:.5em 0;padding:.3em}
 td{border:0;padding:.15em .3em;white-space:normal}
 td.num,td.own{text-align:left}
 td[data-label]::before{content:attr(data-label) ": ";color:var(--mute);font-weight:400}
 .wide{display:none}
 .narrow{display:block}
 svg.spark{display:inline-block;vertical-align:middle}
}
`

// pageBody is the skeleton the script fills: one table per concern.
const pageBody = `<body>
<h1>swarm</h1>
<div id="summary">loading&hellip;</div><p id="err"></p>
<h2>Nodes</h2>
<p class="hint">status: 0 healthy, 1 polling stalled, 2 consuming stalled, 3 over memory limit, 4 partition stalled, -1 no report in time</p>
<div class="wrap"><table id="nodes-table"><thead><tr><th>node</th><th>state</th><th>status</th><th>pid</th><th>restarts</th><th>RSS</th><th>records/s</th><th>last report</th><th>handled / failed / retried / dead-lettered</th><th>last exit</th></tr></thead>
<tbody id="nodes"></tbody></table></div>
<h2>Partitions</h2>
<p class="hint">&#9679; owner; grey: stale (owner down or silent, last known values); yellow: retrying a record. Trend: lag over the last 5 minutes.</p>
<div class="wrap"><table id="parts-table"><thead id="parts-head"></thead><tbody id="parts"></tbody></table></div>
<h2>Restarts</h2>
<div class="wrap"><table id="exits-table"><thead><tr><th>node</th><th>at</th><th>exit</th><th>status</th><th>uptime</th><th>reason</th></tr></thead>
<tbody id="exits"></tbody></table></div>
<h2>Latest failures</h2>
<div class="wrap"><table id="failures-table"><thead><tr><th>node</th><th>at</th><th>topic</th><th>partition</th><th>offset</th><th>error</th></tr></thead>
<tbody id="failures"></tbody></table></div>
`

// pageJS polls /status and redraws. It asks again 2 s after an answer (or
// a 5 s timeout), not on a fixed interval, so a slow supervisor never has
// more than one request from a page open against its connection limit. The SVG namespace is spelled with
// "\/" so the page holds no URL at all: it must never look as if it loaded
// something from elsewhere. data-rendered on <body> counts the redraws, for
// a person debugging the page and for the browser test to wait on.
const pageJS = `
'use strict';
var SVGNS='http:\/\/www.w3.org/2000/svg';
var STATUS={'-1':'no report in time','0':'healthy','1':'polling stalled','2':'consuming stalled','3':'over memory limit','4':'partition stalled'};
var HISTORY=60, renders=0;
function $(id){return document.getElementById(id);}
function el(tag,text,cls){var e=document.createElement(tag);if(text!=null)e.textContent=String(text);if(cls)e.className=cls;return e;}
function td(tr,label,text,cls){var c=el('td',text,cls);c.setAttribute('data-label',label);tr.appendChild(c);return c;}
function num(v){return v==null?'-':String(v);}
function dur(v){if(v==null)return '-';if(v<1000)return v+' ms';if(v<120000)return (v/1000).toFixed(1)+' s';if(v<7200000)return Math.round(v/60000)+' min';return (v/3600000).toFixed(1)+' h';}
function ago(v){return v==null?'-':dur(v)+' ago';}
function mib(v){return v==null||v===0?'-':(v/1048576).toFixed(1)+' MiB';}
function rate(v){return v==null?'-':Number(v).toFixed(1);}
function clock(iso){if(!iso)return '-';var d=new Date(iso);return isNaN(d)?String(iso):d.toISOString().slice(11,19)+'Z';}
function status(v){return v==null?'-':v+' '+(STATUS[v]||'unknown');}
function empty(body,cols,text){var tr=el('tr');var c=el('td',text,'none');c.colSpan=cols;tr.appendChild(c);body.appendChild(tr);}
function key(p){return p.group+'/'+p.topic+'/'+p.partition;}

function summary(s){
  var box=$('summary'),nodes=s.nodes||[],up=nodes.filter(function(n){return n.state==='running';}).length,rps=0;
  nodes.forEach(function(n){rps+=n.records_per_s||0;});
  box.textContent='';
  box.appendChild(el('span','supervisor pid '+s.process_id));
  box.appendChild(el('span','loop turned '+ago(s.loop_age_ms),s.loop_age_ms>10000?'bad':''));
  box.appendChild(el('span',up+' of '+nodes.length+' nodes running',up<nodes.length?'warn':''));
  box.appendChild(el('span',rps.toFixed(1)+' records/s'));
  if(s.quiet)box.appendChild(el('span','quiet','warn'));
  if(s.stopping)box.appendChild(el('span','stopping','warn'));
  box.appendChild(el('span','updated '+new Date().toISOString().slice(11,19)+'Z'));
}

function nodeRow(n){
  var tr=el('tr');tr.id='node-'+n.id;
  td(tr,'node',n.id);
  td(tr,'state',n.state,n.state);
  td(tr,'status',status(n.last_status),'st'+n.last_status);
  td(tr,'pid',n.pid||'-','num');
  td(tr,'restarts',num(n.restarts),'num');
  td(tr,'RSS',mib(n.rss_bytes),'num');
  td(tr,'records/s',rate(n.records_per_s),'num');
  td(tr,'last report',ago(n.last_report_age_ms));
  td(tr,'handled / failed / retried / dead-lettered',[n.handled,n.failed,n.retried,n.dead_lettered].map(num).join(' / '),'num');
  td(tr,'last exit',n.last_exit||'-');
  return tr;
}

function spark(hist){
  var W=120,H=24,step=W/(Math.max(HISTORY,hist.length)-1),svg=document.createElementNS(SVGNS,'svg'),pts=[],last=null,max=1;
  svg.setAttribute('class','spark');svg.setAttribute('width',W);svg.setAttribute('height',H);
  svg.setAttribute('viewBox','0 0 '+W+' '+H);
  var base=document.createElementNS(SVGNS,'line');
  base.setAttribute('x1','0');base.setAttribute('x2',W);base.setAttribute('y1',H-1);base.setAttribute('y2',H-1);svg.appendChild(base);
  hist.forEach(function(v){if(v!=null&&v>max)max=v;});
  function flush(){if(pts.length>1){var l=document.createElementNS(SVGNS,'polyline');l.setAttribute('points',pts.join(' '));svg.appendChild(l);}pts=[];}
  hist.forEach(function(v,i){
    if(v==null){flush();return;}
    var x=W-(hist.length-1-i)*step,y=H-2-(v/max)*(H-4);
    last=[x,y];pts.push(x.toFixed(1)+','+y.toFixed(1));
  });
  flush();
  if(last){var c=document.createElementNS(SVGNS,'circle');c.setAttribute('cx',last[0].toFixed(1));c.setAttribute('cy',last[1].toFixed(1));c.setAttribute('r','2');svg.appendChild(c);}
  var t=document.createElementNS(SVGNS,'title');
  t.textContent=hist.length?'lag, '+hist.length+' samples 5 s apart, max '+max:'no lag history yet';
  svg.appendChild(t);
  return svg;
}

function partState(p){
  var out=[];
  if(p.paused){
    var when=Date.parse(p.next_try),secs=isNaN(when)?null:Math.round((when-Date.now())/1000);
    out.push('retrying: attempt '+num(p.attempt)+', next try '+clock(p.next_try)+(secs==null?'':secs>0?' (in '+secs+' s)':' (due)'));
  }
  if(p.stale)out.push('stale');
  return out.length?out.join('; '):'active';
}

function partRow(p,ids){
  var tr=el('tr',null,[p.stale?'stale':'',p.paused?'paused':''].join(' ').trim());
  tr.id='part-'+key(p);tr.setAttribute('data-partition',key(p));
  td(tr,'group',p.group);td(tr,'topic',p.topic);td(tr,'partition',num(p.partition),'num');
  ids.forEach(function(id){var own=p.node===id;td(tr,'node '+id,own?'\u25CF':'',own?'own wide':'wide');});
  td(tr,'owner',p.node==null?'-':'node '+p.node,'narrow');
  td(tr,'lag',num(p.lag),'num');
  td(tr,'trend',null,'trend').appendChild(spark(p.lag_history||[]));
  td(tr,'committed',num(p.committed),'num');
  td(tr,'high watermark',num(p.high_watermark),'num');
  td(tr,'handled',num(p.handled),'num');
  td(tr,'state',partState(p),p.paused?'retry':'');
  return tr;
}

function partitions(s){
  var ids=(s.nodes||[]).map(function(n){return n.id;}),head=$('parts-head'),body=$('parts'),hr=el('tr');
  ['group','topic','partition'].forEach(function(h){hr.appendChild(el('th',h));});
  ids.forEach(function(id){hr.appendChild(el('th','node '+id,'wide'));});
  hr.appendChild(el('th','owner','narrow'));
  ['lag','trend','committed','high watermark','handled','state'].forEach(function(h){hr.appendChild(el('th',h));});
  head.textContent='';head.appendChild(hr);body.textContent='';
  (s.partitions||[]).forEach(function(p){body.appendChild(partRow(p,ids));});
  if(!body.firstChild)empty(body,hr.children.length,'no partition reported yet');
}

function exits(s){
  var body=$('exits');body.textContent='';
  (s.nodes||[]).forEach(function(n){
    (n.exits||[]).slice().sort(function(a,b){return Date.parse(b.at)-Date.parse(a.at);}).forEach(function(e){
      var tr=el('tr',null,'exit');tr.setAttribute('data-node',n.id);
      td(tr,'node',n.id);td(tr,'at',clock(e.at));td(tr,'exit',e.exit||'-');
      td(tr,'status',status(e.status),'st'+e.status);td(tr,'uptime',dur(e.uptime_ms));
      td(tr,'reason',e.reason||'-','reason');
      body.appendChild(tr);
    });
  });
  if(!body.firstChild)empty(body,6,'no restarts');
}

function failures(s){
  var body=$('failures'),all=[];body.textContent='';
  (s.nodes||[]).forEach(function(n){(n.failures||[]).forEach(function(f){all.push([n.id,f]);});});
  all.sort(function(a,b){return Date.parse(b[1].at)-Date.parse(a[1].at);});
  all.slice(0,20).forEach(function(nf){
    var f=nf[1],tr=el('tr',null,'failure');
    td(tr,'node',nf[0]);td(tr,'at',clock(f.at));td(tr,'topic',f.topic);
    td(tr,'partition',num(f.partition),'num');td(tr,'offset',num(f.offset),'num');
    td(tr,'error',f.error,'err');
    body.appendChild(tr);
  });
  if(!body.firstChild)empty(body,6,'no failures');
}

function render(s){
  summary(s);
  var body=$('nodes');body.textContent='';
  (s.nodes||[]).forEach(function(n){body.appendChild(nodeRow(n));});
  partitions(s);exits(s);failures(s);
}

function refresh(){
  var ctl=new AbortController(),timer=setTimeout(function(){ctl.abort();},5000);
  fetch('status',{cache:'no-store',signal:ctl.signal}).then(function(r){
    return r.json().then(function(j){if(!r.ok)throw new Error(j.status||('HTTP '+r.status));return j;});
  }).then(function(s){
    render(s);$('err').textContent='';
    document.body.setAttribute('data-rendered',++renders);
  }).catch(function(e){$('err').textContent='status unavailable: '+e.message+' (showing the last one)';
  }).then(function(){clearTimeout(timer);setTimeout(refresh,2000);});
}
refresh();
`
