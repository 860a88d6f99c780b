//! How clients are shown: a table (list), `key: value` lines (show), or
//! JSON. Never a secret digest: a registration's secret is shown only as
//! whether it has one, and until when a previous one is accepted.

use gatehouse_core::model::{Client, ClientAuth};
use serde_json::{json, Value};

/// `public`, `confidential` or `resource-server`.
fn kind(c: &Client) -> &'static str {
    match (&c.auth, c.resource_server()) {
        (ClientAuth::Public, _) => "public",
        (_, Some(_)) => "resource-server",
        _ => "confidential",
    }
}

/// The grant types, as their `grant_type` names.
fn grants(c: &Client) -> Vec<String> {
    match serde_json::to_value(c.grant_types) {
        Ok(Value::Array(v)) => v.into_iter().filter_map(|g| g.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Until when the secret a rotation replaced is accepted.
fn previous_until(c: &Client) -> Option<u64> {
    match &c.auth {
        ClientAuth::Confidential { previous: Some(p), .. } => Some(p.until.0),
        _ => None,
    }
}

fn strs<T: AsRef<str>>(v: &[T]) -> Vec<&str> {
    v.iter().map(AsRef::as_ref).collect()
}

/// One client for `--json`.
pub(crate) fn client_json(c: &Client) -> Value {
    json!({
        "id": c.id.as_str(),
        "type": kind(c),
        "enabled": c.enabled,
        "grant_types": grants(c),
        "scope": c.scope.as_str(),
        "default_scope": c.default_scope.as_str(),
        "audiences": c.audiences.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "default_audience": c.default_audience.as_ref().map(|a| a.as_str()),
        "redirect_uris": strs(&c.redirect_uris),
        "resource_server": c.resource_server().map(|rs| rs.resources.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
        "previous_secret_until": previous_until(c),
    })
}

/// `clients list`: one row per client.
pub(crate) fn clients_table(clients: &[Client]) -> String {
    let mut rows = vec![["ID", "TYPE", "ENABLED", "GRANTS", "SCOPE", "AUDIENCES"].map(str::to_owned)];
    for c in clients {
        rows.push([
            c.id.as_str().to_owned(),
            kind(c).to_owned(),
            if c.enabled { "yes" } else { "no" }.to_owned(),
            dash(grants(c).join(",")),
            dash(c.scope.as_str().to_owned()),
            dash(c.audiences.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(",")),
        ]);
    }
    let widths: Vec<usize> =
        (0..6).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{} client(s)", clients.len()));
    out
}

/// `clients show`: one `key: value` line per field.
pub(crate) fn client_detail(c: &Client) -> String {
    let list = |v: Vec<&str>| dash(v.join(" "));
    let mut lines = vec![
        ("id", c.id.as_str().to_owned()),
        ("type", kind(c).to_owned()),
        ("enabled", if c.enabled { "yes" } else { "no" }.to_owned()),
        ("grant types", dash(grants(c).join(" "))),
        ("scope", dash(c.scope.as_str().to_owned())),
        ("default scope", dash(c.default_scope.as_str().to_owned())),
        ("audiences", list(c.audiences.iter().map(|a| a.as_str()).collect())),
        ("default audience", dash(c.default_audience.as_ref().map_or("", |a| a.as_str()).to_owned())),
        ("redirect uris", list(strs(&c.redirect_uris))),
    ];
    if let Some(rs) = c.resource_server() {
        lines.push(("resource server for", list(rs.resources.iter().map(|r| r.as_str()).collect())));
    }
    if let Some(until) = previous_until(c) {
        lines.push(("previous secret until", format!("{until} (Unix time)")));
    }
    lines.iter().map(|(k, v)| format!("{k:<22}{v}")).collect::<Vec<_>>().join("\n")
}

fn dash(s: String) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s
    }
}
