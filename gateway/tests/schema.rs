//! `GET /schema`: the paths and frequent values of a node's recent matches,
//! behind the admission of `/ws` (issue 13, item 4).

mod common;

use common::{config, http, Node};
use serde_json::Value;

fn get(node: &Node, target: &str, headers: &str) -> (u16, String) {
    http(node.address(), &format!("GET {target} HTTP/1.1\r\nHost: {}\r\n{headers}\r\n", node.address()))
}

fn body(response: &str) -> Value {
    let (_, body) = response.split_once("\r\n\r\n").expect("a response with a body");
    serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {body}"))
}

#[test]
fn schema_serves_the_paths_and_values_of_recent_matches_to_whoever_ws_admits() {
    let mut config = config();
    config.no_admin_token = false;
    config.admin_token = Some("s3cret".into());
    let node = Node::start(config);

    let (status, empty) = get(&node, "/schema?token=s3cret", "");
    assert_eq!(status, 200, "{empty}");
    assert_eq!(body(&empty), serde_json::json!({"events": 0, "paths": []}));

    let mut admin = node.admin("?token=s3cret", &[]).unwrap();
    let filter = admin.subscribe(r#"type == "booking""#);
    node.wait_live(&[filter]);
    node.produce(&[
        r#"{"type":"booking","cart":{"total":812.5},"props":{"utm.source":"ads"}}"#,
        r#"{"type":"login","user":{"id":"u-1"}}"#,
        r#"{"type":"booking","cart":{"total":99}}"#,
    ]);
    for _ in 0..2 {
        assert_eq!(admin.next_json()["type"], "event");
    }
    // Answers are reused for a second: wait on the fact, not a fixed sleep.
    let sample = std::cell::RefCell::new(Value::Null);
    node.wait_for("both bookings in the schema sample", |node| {
        *sample.borrow_mut() = body(&get(node, "/schema?token=s3cret", "").1);
        sample.borrow()["events"] == 2
    });
    let sample = sample.into_inner();
    assert_eq!(
        sample["paths"],
        serde_json::json!([
            {"path": "cart.total", "types": ["number"], "count": 2,
             "values": [{"literal": "812.5", "count": 1}, {"literal": "99", "count": 1}]},
            {"path": "type", "types": ["string"], "count": 2, "values": [{"literal": "\"booking\"", "count": 2}]},
            {"path": "props[\"utm.source\"]", "types": ["string"], "count": 1, "values": [{"literal": "\"ads\"", "count": 1}]},
        ]),
        "only what was delivered (the login matched no filter)"
    );

    let (status, refused) = get(&node, "/schema", "");
    assert_eq!(status, 401, "{refused}");
    assert_eq!(get(&node, "/schema?token=nope", "").0, 401);
    assert_eq!(get(&node, "/schema", "Authorization: Bearer s3cret\r\n").0, 200);
    assert_eq!(get(&node, "/schema?token=s3cret", "Origin: http://evil.example\r\n").0, 403);
    let own = format!("Origin: http://{}\r\n", node.address());
    assert_eq!(get(&node, "/schema?token=s3cret", &own).0, 200);
}
