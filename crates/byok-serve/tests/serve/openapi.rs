//! `/openapi.json` against the running server: it documents exactly the routes
//! there are, and every route answers with a documented status and a body whose
//! fields are all in the documented schema.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::authz::{ROUTES, body, case, fill};
use crate::common::Harness;

const PUBLIC: [&str; 2] = ["/healthz", "/readyz"];

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return resolve(doc, &doc["components"]["schemas"][name]);
    }
    for combo in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[combo].as_array() {
            if let Some(s) = options.iter().find(|s| s["type"] != "null") {
                return resolve(doc, s);
            }
        }
    }
    schema
}

/// Every field of `value` is a property of `schema` (recursively), or the
/// schema is an open map / free object.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    match value {
        Value::Object(fields) => {
            let Some(props) = schema["properties"].as_object() else {
                assert!(
                    schema["properties"].is_null(),
                    "{at}: an object where the schema has no properties: {schema}"
                );
                return;
            };
            for (name, v) in fields {
                let prop = props
                    .get(name)
                    .unwrap_or_else(|| panic!("{at}: field `{name}` is not in the schema"));
                check(doc, prop, v, &format!("{at}.{name}"));
            }
            if let Some(required) = schema["required"].as_array() {
                for r in required {
                    assert!(
                        fields.contains_key(r.as_str().unwrap()),
                        "{at}: required `{r}` missing"
                    );
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(doc, item, v, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_matches_the_running_server() {
    let h = Harness::start().await;
    let (status, doc) = h.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    // The documented routes are exactly the served ones.
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let mut served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| {
            let path = r.path.split('?').next().unwrap();
            let path = path
                .replace("{ws}", "{workspace}")
                .replace("{token}", "{id}");
            (r.method.to_owned(), path)
        })
        .collect();
    for p in PUBLIC {
        served.insert(("GET".into(), p.into()));
    }
    assert_eq!(documented, served);

    // Each route, called for real, answers as documented: success and errors.
    let mut seed = 10_000;
    for route in ROUTES {
        for token in [Some(h.admin.clone()), None] {
            let c = case(&h, seed).await;
            seed += 1;
            let path = fill(route.path, &c.ws, &c.key_id, &c.target_token);
            let (status, answer) = h
                .call(route.method, &path, token.as_deref(), body(route, &c))
                .await;
            let doc_path = route
                .path
                .split('?')
                .next()
                .unwrap()
                .replace("{ws}", "{workspace}")
                .replace("{token}", "{id}");
            let op = &doc["paths"][&doc_path][route.method.to_lowercase()];
            let response = &op["responses"][status.to_string()];
            assert!(
                response.is_object(),
                "{} {doc_path} answered {status}, not documented",
                route.method
            );
            if response["content"]["text/plain"].is_object() {
                assert!(
                    answer.is_string(),
                    "{doc_path} {status}: documented as text"
                );
                continue;
            }
            match resolve(&doc, &response["content"]["application/json"]["schema"]) {
                Value::Null => assert!(
                    answer.is_null(),
                    "{doc_path} {status}: a body where none is documented"
                ),
                schema => check(
                    &doc,
                    schema,
                    &answer,
                    &format!("{} {doc_path} {status}", route.method),
                ),
            }
        }
    }
    for p in PUBLIC {
        let (status, answer) = h.call("GET", p, None, None).await;
        let schema = &doc["paths"][p]["get"]["responses"][status.to_string()]["content"]["application/json"]
            ["schema"];
        check(&doc, schema, &answer, p);
    }
    h.stop().await;
}
