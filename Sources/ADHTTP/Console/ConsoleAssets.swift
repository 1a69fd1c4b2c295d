/// The console's stylesheet and its one script, served from the binary (`/console/static/...`) so the pages'
/// Content-Security-Policy can forbid inline script and style.
enum ConsoleAssets {
    static let css = """
        :root { --fg: #1d2330; --muted: #5b6475; --line: #d8dce3; --bg: #f6f7f9; --accent: #2457c5;
                --high: #c62828; --medium: #e67e00; --low: #6d7a8c; --ok: #2e7d32; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        header.top { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
        header.top a { color: #dfe6f5; text-decoration: none; }
        header.top a[aria-current] { color: #fff; border-bottom: 2px solid #8fb0ff; }
        header.top .brand { font-weight: 700; color: #fff; }
        header.top nav { display: flex; gap: 1rem; flex: 1; }
        header.top .who { display: flex; gap: .6rem; align-items: center; margin: 0; }
        header.top code { color: #b9c8ea; }
        main { max-width: 1240px; margin: 0 auto; padding: 1rem 1.2rem 2rem; }
        h1 { font-size: 1.4rem; margin: .6rem 0; } h2 { font-size: 1.15rem; margin: 1.4rem 0 .5rem; }
        h1 small { font-size: .75rem; font-weight: 500; padding: .1rem .45rem; border-radius: 1rem; vertical-align: middle; }
        small.live { background: #dff3e2; color: var(--ok); } small.down { background: #fde3e3; color: var(--high); }
        small.idle { background: #eceff3; color: var(--muted); }
        h1 small:empty { display: none; }
        table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #eef1f5; font-weight: 600; font-size: .85rem; color: var(--muted); }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        td.reason { color: var(--muted); max-width: 28rem; }
        td.time { white-space: nowrap; }
        a { color: var(--accent); }
        .hint { color: var(--muted); }
        .flash { background: #e3f2e5; border: 1px solid #b5dbb9; padding: .5rem .8rem; border-radius: 4px; }
        .problem { background: #fdecea; border: 1px solid #f3b9b3; color: #8e1c12; padding: .5rem .8rem; border-radius: 4px; }
        article.alert { background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: .6rem .9rem; margin: .6rem 0; }
        tr.sev-critical td:first-child, article.alert.sev-critical { border-left: 4px solid #7b1fa2; }
        tr.sev-high td:first-child, article.alert.sev-high { border-left: 4px solid var(--high); }
        tr.sev-medium td:first-child, article.alert.sev-medium { border-left: 4px solid var(--medium); }
        tr.sev-low td:first-child, article.alert.sev-low { border-left: 4px solid var(--low); }
        article.alert h3 { margin: 0 0 .2rem; font-size: 1rem; }
        .meta { margin: 0; color: var(--muted); }
        .badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; background: #eceff3; color: var(--fg); font-size: .8rem; }
        .notes { margin: .3rem 0; }
        .actions { display: flex; flex-direction: column; gap: .35rem; margin-top: .5rem; }
        form.act { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin: 0; }
        form.act input[name=notes] { flex: 1; min-width: 12rem; }
        input, select, button { font: inherit; padding: .3rem .55rem; border: 1px solid #b9c0cc; border-radius: 4px; background: #fff; }
        button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
        button.quiet { background: #fff; color: var(--accent); }
        header.top button { background: transparent; border-color: #5b6475; color: #dfe6f5; }
        section.login { max-width: 32rem; margin: 3rem auto; background: #fff; border: 1px solid var(--line); padding: 1.2rem 1.5rem; border-radius: 6px; }
        section.login form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
        section.login input { flex: 1; min-width: 16rem; }
        form.window { display: flex; gap: .5rem; align-items: center; margin: .5rem 0 1rem; }
        figure { margin: 0; background: #fff; border: 1px solid var(--line); padding: .6rem; }
        figcaption { color: var(--muted); font-size: .85rem; margin-top: .4rem; }
        svg.chart { width: 100%; height: auto; font: 11px system-ui, sans-serif; }
        svg.chart .frame { fill: none; stroke: #9aa3b2; stroke-width: .8; }
        svg.chart .values { fill: none; stroke: #2457c5; stroke-width: 1.2; }
        svg.chart .band { fill: #2457c5; fill-opacity: .12; stroke: none; }
        svg.chart .expected { stroke: #e67e00; stroke-width: 3; stroke-opacity: .7; }
        svg.chart .score { fill: none; stroke: #444; stroke-width: 1; }
        svg.chart circle.anomaly { fill: #c62828; stroke: #fff; stroke-width: 1; }
        svg.chart circle.false_positive { fill: #9aa3b2; } svg.chart circle.confirmed { fill: #7b1fa2; }
        svg.chart .label { font-weight: 600; fill: var(--fg); } svg.chart .tick { text-anchor: end; fill: var(--muted); }
        svg.chart .axis { fill: var(--muted); }
        .key { font-weight: 600; } .key.values { color: #2457c5; } .key.band { color: #6f8fd6; }
        .key.expected { color: #e67e00; } .key.anomaly { color: #c62828; }
        footer { color: var(--muted); font-size: .8rem; text-align: center; padding: 1rem; }
        code { font-size: .85em; }
        """

    /// The live feed (the only script): new anomalies from `/console/feed` (server-sent events) go to the top of
    /// the table. Each event's data is the row, rendered and escaped by the server (`ConsoleTemplates.feedRow`),
    /// so nothing a client or a source wrote is ever interpreted here; a row with the same id is replaced.
    /// EventSource reconnects by itself and sends Last-Event-ID, from which the server resumes.
    static let feedJS = """
        (function () {
          'use strict';
          var rows = document.getElementById('feed-rows');
          var state = document.getElementById('feed-state');
          if (!rows || !window.EventSource) { return; }
          var since = rows.getAttribute('data-since') || '';
          var source = new EventSource('/console/feed?since=' + encodeURIComponent(since));
          function show(text, cls) { if (state) { state.textContent = text; state.className = cls; } }
          show('connecting…', 'idle');
          source.addEventListener('open', function () { show('live', 'live'); });
          source.addEventListener('error', function () {
            show(source.readyState === EventSource.CLOSED ? 'stopped' : 'reconnecting…', 'down');
          });
          source.addEventListener('anomaly', function (event) {
            var holder = document.createElement('tbody');
            holder.innerHTML = event.data;
            var row = holder.firstElementChild;
            if (!row || !row.id) { return; }
            var old = document.getElementById(row.id);
            if (old) { old.parentNode.removeChild(old); }
            var empty = document.getElementById('feed-empty');
            if (empty) { empty.parentNode.removeChild(empty); }
            rows.insertBefore(row, rows.firstElementChild);
            while (rows.rows.length > 200) { rows.deleteRow(-1); }
          });
          source.addEventListener('end', function (event) { source.close(); show(event.data, 'down'); });
        })();
        """
}
