package pool

// dashboardHTML is a dependency-free page polling the JSON API.
const dashboardHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Adit pool</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:44em}td{padding:.2em 1em .2em 0}
h1{font-size:1.4em}code{background:#eee;padding:0 .3em}</style></head>
<body><h1>Adit pool</h1>
<table id="t"><tr><td>loading…</td></tr></table>
<p>Prometheus metrics: <a href="/metrics">/metrics</a> · JSON: <a href="/api/v1/pool">/api/v1/pool</a></p>
<script>
const esc=t=>String(t).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[c]);
const fmt=h=>{const u=["H/s","kH/s","MH/s","GH/s","TH/s","PH/s","EH/s"];let i=0;while(h>=1000&&i<u.length-1){h/=1000;i++}return h.toFixed(2)+" "+u[i]};
async function tick(){try{const s=await (await fetch("/api/v1/pool")).json();
const rows=[["Network",s.network],["Stratum",s.stratum],["Height",s.height],["Job",s.job_id],
["Template age",s.template_age_seconds.toFixed(1)+" s"],["Hashrate (10 min)",fmt(s.hashrate_hs)],["Shares (10 min)",s.shares_last_10m]];
const jd=s.job_declaration;if(jd){rows.push(["Job Declaration",jd.endpoint],["Declared hashrate (10 min)",fmt(jd.declared_hashrate_hs)],
["Miners declaring their own work",jd.declaring_workers.length?jd.declaring_workers.map(esc).join("<br>"):"none"]);}
document.getElementById("t").innerHTML=rows.map(r=>"<tr><td>"+r[0]+"</td><td><code>"+r[1]+"</code></td></tr>").join("");}catch(e){}}
tick();setInterval(tick,2000);
</script></body></html>`
