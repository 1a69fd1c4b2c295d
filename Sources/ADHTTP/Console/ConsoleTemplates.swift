import Foundation
import Mustache

/// The console's pages: Mustache templates compiled from these strings when the server starts (nothing to ship
/// beside the binary, no build step), HTML-escaped by default. Only `{{{chart}}}` is unescaped: the SVG that
/// `ConsoleChart` builds, escaping every text it puts in. Forms post without JavaScript; the one script
/// (`ConsoleAssets.feedJS`) only keeps the live feed current.
enum ConsoleTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in templates {
            do {
                try library.register(text, named: name)
            } catch {
                // Constants of this file: a template that does not parse is a bug ConsoleTemplateTests catch.
                fatalError("console template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    static func render(_ name: String, _ context: [String: Any]) -> String {
        library.render(context, withTemplate: name) ?? "no template \(name)"
    }

    static let templates: [String: String] = [
        "header": header, "footer": footer, "login": login, "overview": overview, "feedRow": feedRow,
        "alertCard": alertCard, "alert": alert, "sources": sources, "source": source, "tolerances": tolerances,
        "error": error,
    ]

    static let header = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · anomaly console</title>
        <link rel="stylesheet" href="/console/static/console.css">
        </head><body>
        <header class="top">
          <a class="brand" href="/console">anomaly console</a>
          {{#csrf}}
          <nav>
            <a href="/console"{{#navOverview}} aria-current="page"{{/navOverview}}>Live &amp; alerts</a>
            <a href="/console/sources"{{#navSources}} aria-current="page"{{/navSources}}>Sources</a>
            <a href="/console/tolerances"{{#navTolerances}} aria-current="page"{{/navTolerances}}>Tolerances</a>
          </nav>
          <form class="who" method="post" action="/console/logout">
            <input type="hidden" name="csrf" value="{{csrf}}">
            {{#who}}<span title="token {{tokenName}}">{{person}} · <code>{{role}}</code></span>{{/who}}
            <button type="submit">Log out</button>
          </form>
          {{/csrf}}
        </header>
        <main>
        {{#flash}}<p class="flash" role="status">{{flash}}</p>{{/flash}}
        {{#problem}}<p class="problem" role="alert">{{problem}}</p>{{/problem}}

        """

    static let footer = """
        </main>
        <footer>Times are UTC. Every action runs in the database as your token's role; what it refuses is shown as it said it.</footer>
        {{#feed}}<script src="/console/static/feed.js"></script>{{/feed}}
        </body></html>

        """

    static let login = """
        {{> header}}
        <section class="login">
          <h1>Log in</h1>
          <p>Paste an API token (from <code>SELECT ad.issue_api_token('name', 'ad_operator', 'you@example.com')</code>).
          The console acts as that token's role and person.</p>
          <form method="post" action="/console/login">
            <label for="token">API token</label>
            <input id="token" name="token" type="password" autocomplete="off" required maxlength="200" autofocus>
            <button type="submit">Log in</button>
          </form>
        </section>
        {{> footer}}
        """

    /// One anomaly of the live feed: a table row, on one line (it travels as one server-sent event data line).
    static let feedRow = """
        <tr id="anomaly-{{id}}" class="sev-{{severity}}"><td class="time">{{detected}}</td><td class="time">{{time}}</td>\
        <td><a href="{{sourceHref}}">{{source}}</a></td><td>{{metric}}</td><td>{{severity}}</td><td class="num">{{score}}</td>\
        <td class="num">{{actual}}</td><td class="num">{{expected}}</td><td class="status">{{status}}</td><td class="reason">{{reason}}</td></tr>
        """

    /// One alert with its actions: the alert's status changes and its anomaly's, as ad.status_transitions allows
    /// a person from where each stands, and notes. Plain forms: they work without JavaScript.
    static let alertCard = """
        <article class="alert sev-{{severity}}" id="alert-{{id}}">
          <h3><a href="/console/alerts/{{id}}">{{title}}</a></h3>
          <p class="meta"><span class="badge">{{severity}}</span> alert <b class="alert-status">{{status}}</b>
            · <a href="{{sourceHref}}">{{source}}</a> / {{metric}} · rule {{rule}} · {{occurrences}}×
            · since {{created}}{{#acknowledgedBy}} · acknowledged by {{acknowledgedBy}}{{/acknowledgedBy}}{{#resolvedBy}} · resolved by {{resolvedBy}}{{/resolvedBy}}</p>
          {{#notes}}<p class="notes">Notes: {{notes}}</p>{{/notes}}
          <div class="actions">
            <form method="post" action="/console/alerts/{{id}}" class="act">
              <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="return" value="{{returnTo}}">
              <input name="notes" placeholder="notes for the alert" maxlength="4000" aria-label="notes for alert {{title}}">
              {{#alertNext}}<button type="submit" name="status" value="{{value}}">{{label}}</button>{{/alertNext}}
              <button type="submit" name="status" value="" class="quiet">Save notes</button>
            </form>
            {{#anomalyID}}
            <form method="post" action="/console/anomalies/{{anomalyID}}" class="act">
              <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="return" value="{{returnTo}}">
              <span>anomaly <b class="anomaly-status">{{anomalyStatus}}</b>{{#anomalyScore}}, score {{anomalyScore}}{{/anomalyScore}}</span>
              <input name="notes" placeholder="notes for the anomaly" maxlength="4000" aria-label="notes for the anomaly of {{title}}">
              {{#anomalyNext}}<button type="submit" name="status" value="{{value}}">{{label}}</button>{{/anomalyNext}}
              <button type="submit" name="status" value="" class="quiet">Save notes</button>
            </form>
            {{/anomalyID}}
          </div>
        </article>
        """

    static let overview = """
        {{> header}}
        <section>
          <h1>Live anomalies <small id="feed-state" class="idle"></small></h1>
          <p class="hint">The newest anomalies, by when the worker detected them. With JavaScript, new ones appear at the
          top as they are detected; without it, reload.</p>
          <table class="feed">
            <thead><tr><th>detected</th><th>point time</th><th>source</th><th>metric</th><th>severity</th><th>score</th>
            <th>actual</th><th>expected</th><th>status</th><th>why</th></tr></thead>
            <tbody id="feed-rows" data-since="{{since}}">
            {{#anomalies}}{{> feedRow}}
            {{/anomalies}}
            {{^anomalies}}<tr id="feed-empty"><td colspan="10">No anomalies yet.</td></tr>{{/anomalies}}
            </tbody>
          </table>
        </section>
        <section>
          <h2>Open alerts</h2>
          {{#alerts}}{{> alertCard}}{{/alerts}}
          {{^alerts}}<p>No open alerts.</p>{{/alerts}}
        </section>
        {{> footer}}
        """

    static let alert = """
        {{> header}}
        <p><a href="/console">← Live &amp; alerts</a></p>
        {{#card}}{{> alertCard}}{{/card}}
        <section>
          <h2>Audit trail</h2>
          {{#auditProblem}}<p class="problem" role="alert">{{auditProblem}}</p>{{/auditProblem}}
          {{^auditProblem}}
          <table class="audit">
            <thead><tr><th>#</th><th>when</th><th>who</th><th>as</th><th>action</th><th>before</th><th>after</th></tr></thead>
            <tbody>
            {{#audit}}<tr><td class="num">{{id}}</td><td class="time">{{when}}</td><td class="who">{{person}}</td><td><code>{{role}}</code></td>
              <td>{{action}}</td><td><code>{{old}}</code></td><td><code>{{new}}</code></td></tr>
            {{/audit}}
            {{^audit}}<tr><td colspan="7">Nothing recorded yet.</td></tr>{{/audit}}
            </tbody>
          </table>
          {{/auditProblem}}
        </section>
        {{> footer}}
        """

    static let sources = """
        {{> header}}
        <h1>Sources</h1>
        <table>
          <thead><tr><th>source</th><th>type</th><th>status</th><th>latest point</th><th>anomalies (24 h)</th><th>open alerts</th></tr></thead>
          <tbody>
          {{#sources}}<tr><td><a href="{{href}}">{{name}}</a></td><td>{{type}}</td><td>{{status}}</td><td>{{last}}</td>
            <td class="num">{{anomalies}}</td><td class="num">{{alerts}}</td></tr>
          {{/sources}}
          {{^sources}}<tr><td colspan="6">No sources.</td></tr>{{/sources}}
          </tbody>
        </table>
        {{> footer}}
        """

    static let source = """
        {{> header}}
        <p><a href="/console/sources">← Sources</a></p>
        <h1>{{name}}</h1>
        <form method="get" action="{{href}}" class="window">
          <label for="hours">Window</label>
          <select id="hours" name="hours">{{#windows}}<option value="{{hours}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/windows}}</select>
          <label for="to">ending</label> <input id="to" name="to" value="{{to}}" size="22">
          <button type="submit">Show</button>
        </form>
        <figure>
          {{{chart}}}
          <figcaption>{{from}} to {{to}} UTC, {{pointCount}} points{{#truncated}} (the latest {{pointCount}} of the
          window){{/truncated}}. <span class="key values">line</span>: values.
          <span class="key band">shaded</span>: the console's expected band, the median of the previous {{bandWindow}}
          values ± {{bandWidth}} robust standard deviations (1.4826 × MAD), drawn for orientation; it is not the
          detector's. <span class="key expected">bar</span>: the detector's expected range at an anomaly.
          <span class="key anomaly">dot</span>: an anomaly (hover for details). Below: each point's anomaly score.</figcaption>
        </figure>
        {{#moreMetrics}}<p class="hint">Not drawn: {{moreMetrics}}.</p>{{/moreMetrics}}
        <h2>Anomalies in this window</h2>
        <table>
          <thead><tr><th>point time</th><th>metric</th><th>severity</th><th>score</th><th>actual</th><th>expected</th><th>status</th><th>why</th></tr></thead>
          <tbody>
          {{#anomalies}}<tr class="sev-{{severity}}"><td class="time">{{time}}</td><td>{{metric}}</td><td>{{severity}}</td><td class="num">{{score}}</td>
            <td class="num">{{actual}}</td><td class="num">{{expected}}</td><td>{{status}}</td><td class="reason">{{reason}}</td></tr>
          {{/anomalies}}
          {{^anomalies}}<tr><td colspan="8">None.</td></tr>{{/anomalies}}
          </tbody>
        </table>
        {{> footer}}
        """

    static let tolerances = """
        {{> header}}
        <h1>Learned tolerances</h1>
        <p class="hint">What feedback taught the worker (README, "Learning from feedback"): a false positive makes
        similar deviations on its series tolerated, a confirmed anomaly limits that. Undo takes an adjustment back;
        the worker follows at its next configuration refresh.</p>
        <h2>In force</h2>
        {{#patternsProblem}}<p class="problem" role="alert">{{patternsProblem}}</p>{{/patternsProblem}}
        <table>
          <thead><tr><th>source</th><th>metric</th><th>measure</th><th>direction</th><th>tolerated up to</th><th>kept under</th>
          <th>in force</th><th>always alert from score</th><th>adjustments</th><th>last</th></tr></thead>
          <tbody>
          {{#patterns}}<tr><td>{{source}}</td><td>{{metric}}</td><td>{{measure}}</td><td>{{direction}}</td><td class="num">{{tolerated}}</td>
            <td class="num">{{kept}}</td><td class="num">{{effective}}</td><td class="num">{{alwaysFrom}}</td><td class="num">{{adjustments}}</td><td>{{last}}</td></tr>
          {{/patterns}}
          {{^patterns}}<tr><td colspan="10">Nothing learned is in force.</td></tr>{{/patterns}}
          </tbody>
        </table>
        <h2>Adjustments</h2>
        {{#adjustmentsProblem}}<p class="problem" role="alert">{{adjustmentsProblem}}</p>{{/adjustmentsProblem}}
        {{^adjustmentsProblem}}
        <table class="adjustments">
          <thead><tr><th>#</th><th>made</th><th>source</th><th>metric</th><th>kind</th><th>measure</th><th>direction</th>
          <th>deviation</th><th>why</th><th>state</th><th></th></tr></thead>
          <tbody>
          {{#adjustments}}<tr id="adjustment-{{id}}"><td class="num">{{id}}</td><td class="time">{{made}}</td><td>{{source}}</td><td>{{metric}}</td><td>{{kind}}</td>
            <td>{{measure}}</td><td>{{direction}}</td><td class="num">{{deviation}}</td><td class="reason">{{reason}}</td><td>{{state}}</td>
            <td>{{#standing}}<form method="post" action="/console/adjustments/{{id}}/undo" class="act">
              <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="return" value="/console/tolerances">
              <input name="notes" placeholder="why" maxlength="4000" aria-label="why undo adjustment {{id}}">
              <button type="submit">Undo</button></form>{{/standing}}</td></tr>
          {{/adjustments}}
          {{^adjustments}}<tr><td colspan="11">No adjustments.</td></tr>{{/adjustments}}
          </tbody>
        </table>
        {{/adjustmentsProblem}}
        {{> footer}}
        """

    static let error = """
        {{> header}}
        <h1>{{heading}}</h1>
        <p class="problem" role="alert">{{message}}</p>
        {{#hint}}<p class="hint">{{hint}}</p>{{/hint}}
        <p><a href="{{back}}">← Back</a></p>
        {{> footer}}
        """
}
