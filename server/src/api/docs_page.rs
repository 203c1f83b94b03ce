//! `/docs`: the API reference, rendered on the server from the OpenAPI document. One HTML
//! page with inline styles and no script: nothing to fetch, so it works offline.

use std::fmt::Write;

use serde_json::Value;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `#/components/schemas/Name` -> `Name`.
fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

/// A schema as a short type expression, named schemas linked.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = ref_name(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = list.iter().map(type_of).collect();
            return parts.join(if key == "allOf" { " &amp; " } else { " | " });
        }
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    };
    let parts: Vec<String> = types
        .iter()
        .map(|t| match t.as_str() {
            "array" => format!("{}[]", schema.get("items").map_or("any".into(), type_of)),
            "object" if schema.get("properties").is_none() => "object".into(),
            other => esc(other),
        })
        .collect();
    let mut out = if parts.is_empty() {
        "any".to_string()
    } else {
        parts.join(" | ")
    };
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(|v| esc(&v.to_string())).collect();
        out = format!("{out} ({})", names.join(", "));
    }
    out
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

const STYLE: &str = "
body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#0f172a;background:#f8fafc}
header{background:#0f172a;color:#fff;padding:16px 32px}header a{color:#93c5fd}
main{display:flex;gap:32px;padding:24px 32px}nav{min-width:220px;font-size:14px;position:sticky;top:0;align-self:flex-start;max-height:100vh;overflow:auto}
nav ul{list-style:none;padding-left:0}nav a{color:#1d4ed8;text-decoration:none}
article{flex:1;max-width:980px}section.op{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px;margin:16px 0}
.m{display:inline-block;min-width:64px;text-align:center;font-weight:700;border-radius:4px;padding:2px 6px;color:#fff;margin-right:8px}
.get{background:#0284c7}.post{background:#16a34a}.put{background:#ca8a04}.patch{background:#9333ea}.delete{background:#dc2626}
code,.path{font-family:ui-monospace,monospace}table{border-collapse:collapse;width:100%;margin:8px 0}
td,th{border-bottom:1px solid #e2e8f0;text-align:left;padding:4px 8px;vertical-align:top}th{font-size:13px;color:#475569}
h3{margin:0}.muted{color:#64748b}";

/// The whole page.
pub fn render(doc: &Value) -> String {
    let mut ops: Vec<(String, String, String, Value)> = Vec::new(); // tag, method, path, op
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(op) = item.get(method) {
                    let tag = op["tags"][0].as_str().unwrap_or("Other").to_string();
                    ops.push((tag, method.to_string(), path.clone(), op.clone()));
                }
            }
        }
    }
    let mut tags: Vec<(String, String)> = doc["tags"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    (
                        text(t, "name").to_string(),
                        text(t, "description").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for (tag, ..) in &ops {
        if !tags.iter().any(|(t, _)| t == tag) {
            tags.push((tag.clone(), String::new()));
        }
    }

    let mut nav = String::new();
    let mut body = String::new();
    for (tag, description) in &tags {
        let _ = write!(nav, "<li><strong>{}</strong><ul>", esc(tag));
        let _ = write!(
            body,
            "<h2 id=\"tag-{0}\">{0}</h2><p class=\"muted\">{1}</p>",
            esc(tag),
            esc(description)
        );
        for (_, method, path, op) in ops.iter().filter(|(t, ..)| t == tag) {
            let id = format!("{method}-{}", path.replace(['/', '{', '}'], "_"));
            let _ = write!(
                nav,
                "<li><a href=\"#{id}\"><code>{}</code> {}</a></li>",
                method.to_uppercase(),
                esc(path)
            );
            render_operation(&mut body, &id, method, path, op);
        }
        nav.push_str("</ul></li>");
    }
    if let Some(hooks) = doc.get("webhooks").and_then(Value::as_object) {
        nav.push_str("<li><strong>Webhook events</strong><ul>");
        body.push_str(
            "<h2 id=\"webhooks\">Webhook events</h2><p class=\"muted\">What we POST to the URLs \
             subscribed with <code>/v1/Webhooks</code>.</p>",
        );
        for (name, item) in hooks {
            let id = format!("event-{}", name.replace('.', "-"));
            let _ = write!(nav, "<li><a href=\"#{id}\">{}</a></li>", esc(name));
            render_operation(&mut body, &id, "post", name, &item["post"]);
            let event = &item["post"]["requestBody"]["content"]["application/json"]["schema"];
            render_schema(
                &mut body,
                &format!("{name} data"),
                &event["properties"]["data"],
            );
        }
        nav.push_str("</ul></li>");
    }
    nav.push_str("<li><strong>Schemas</strong><ul>");
    body.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(nav, "<li><a href=\"#schema-{0}\">{0}</a></li>", esc(name));
            render_schema(&mut body, name, schema);
        }
    }
    nav.push_str("</ul></li>");

    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>API reference · {title}</title><style>{STYLE}</style></head><body>\
         <header><h1>{title} <small>{version}</small></h1>\
         <p>{description}</p><p><a href=\"/openapi.json\">openapi.json</a> (OpenAPI {openapi}) · \
         <a href=\"/\">dashboard</a></p></header>\
         <main><nav aria-label=\"Operations\"><ul>{nav}</ul></nav><article>{body}</article></main></body></html>",
        title = esc(text(&doc["info"], "title")),
        version = esc(text(&doc["info"], "version")),
        description = esc(text(&doc["info"], "description")),
        openapi = esc(text(doc, "openapi")),
    )
}

fn render_operation(out: &mut String, id: &str, method: &str, path: &str, op: &Value) {
    let _ = write!(
        out,
        "<section class=\"op\" id=\"{id}\"><h3><span class=\"m {method}\">{}</span><span class=\"path\">{}</span></h3>",
        method.to_uppercase(),
        esc(path)
    );
    for key in ["summary", "description"] {
        if !text(op, key).is_empty() {
            let _ = write!(out, "<p>{}</p>", esc(text(op, key)));
        }
    }
    if let Some(security) = op.get("security").and_then(Value::as_array) {
        let ways: Vec<String> = security
            .iter()
            .filter_map(Value::as_object)
            .map(|req| {
                let names: Vec<&str> = req.keys().map(String::as_str).collect();
                if names.is_empty() {
                    "none".to_string()
                } else {
                    esc(&names.join(" + "))
                }
            })
            .collect();
        let _ = write!(
            out,
            "<p><strong>Credentials:</strong> {}</p>",
            ways.join(" or ")
        );
    }
    if let Some(params) = op.get("parameters").and_then(Value::as_array) {
        out.push_str(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>",
        );
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(text(p, "name")),
                if p["required"] == true { " *" } else { "" },
                esc(text(p, "in")),
                p.get("schema").map_or("any".into(), type_of),
                esc(text(p, "description")),
            );
        }
        out.push_str("</table>");
    }
    if let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") {
        let _ = write!(out, "<p><strong>Body:</strong> {}</p>", type_of(schema));
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        out.push_str("<table><tr><th>answer</th><th>body</th><th>description</th></tr>");
        for (code, r) in responses {
            let schema = r["content"]["application/json"].get("schema");
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(code),
                schema.map_or(String::new(), type_of),
                esc(text(r, "description")),
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

fn render_schema(out: &mut String, name: &str, schema: &Value) {
    let _ = write!(
        out,
        "<section class=\"op\" id=\"schema-{0}\"><h3>{0}</h3>",
        esc(name)
    );
    if !text(schema, "description").is_empty() {
        let _ = write!(out, "<p>{}</p>", esc(text(schema, "description")));
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
        for (field, p) in props {
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
                esc(field),
                if required.contains(&field.as_str()) {
                    " *"
                } else {
                    ""
                },
                type_of(p),
                esc(text(p, "description")),
            );
        }
        out.push_str("</table>");
    } else {
        let _ = write!(out, "<p>{}</p>", type_of(schema));
    }
    out.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_read_as_expressions_and_text_is_escaped() {
        assert_eq!(
            type_of(&json!({"type": ["string", "null"]})),
            "string | null"
        );
        assert_eq!(
            type_of(&json!({"type": "array", "items": {"$ref": "#/components/schemas/UserView"}})),
            "<a href=\"#schema-UserView\">UserView</a>[]"
        );
        assert_eq!(
            type_of(&json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/A"}]})),
            "null | <a href=\"#schema-A\">A</a>"
        );
        assert_eq!(esc("<b a=\"x\">&'"), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
    }
}
