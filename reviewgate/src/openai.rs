//! The `openai` engine: one packet per request to the Responses API
//! (`POST <api base>/v1/responses`) with Codex's review schema as a strict
//! JSON-schema output format. The key (`OPENAI_API_KEY`, through
//! `common::secrets`) travels only in the `Authorization` header; the base
//! follows `common::api_base` (https, or plain http to a loopback IP only);
//! the client has timeouts, follows no redirect and reads at most 1 MiB.
//! The answer is the `output_text` of the response's message, read by the
//! same strict parser as every reviewer's.

use std::time::Duration;

use common::api_base::ApiBase;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::engine::CODEX_SCHEMA;
use crate::output::{MAX_OUTPUT, Review};

/// The default model when `[reviewgate] model` is empty.
pub const DEFAULT_MODEL: &str = "gpt-5";

const INSTRUCTIONS: &str = "You are a code reviewer. Review the change in the user message for correctness and \
security as its instructions say, and answer only with the JSON object the output format requires.";

/// A client for one review run.
pub struct OpenAi {
    agent: ureq::Agent,
    base: ApiBase,
    key: SecretString,
    /// The model.
    pub model: String,
}

impl OpenAi {
    /// A client for `base` with `key`.
    pub fn new(
        base: ApiBase,
        key: SecretString,
        model: String,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<OpenAi, String> {
        let proxy = match (base.loopback_http, common::api_base::proxy_url(&base.host, env)) {
            (false, Some(p)) => Some(
                ureq::Proxy::new(p.trim()).map_err(|_| "the proxy URL is not usable (not repeated here)".to_owned())?,
            ),
            _ => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(!base.loopback_http)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(proxy)
            .user_agent(concat!("openclaw-reviewgate/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(OpenAi { agent: ureq::Agent::new_with_config(config), base, key, model })
    }

    /// The request body for `packet`. Pure.
    pub fn body(&self, packet: &str) -> Value {
        let schema: Value = serde_json::from_str(CODEX_SCHEMA).expect("the schema is valid JSON");
        json!({
            "model": self.model,
            "instructions": INSTRUCTIONS,
            "input": packet,
            "text": {"format": {"type": "json_schema", "name": "codex_review", "schema": schema, "strict": true}},
        })
    }

    /// One attempt: the raw response body and the review, or why there is none.
    pub fn attempt(&self, packet: &str, timeout: Duration) -> (Vec<u8>, Result<Review, String>) {
        let url = format!("{}/v1/responses", self.base.url);
        let body = self.body(packet).to_string();
        let res = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(10).min(timeout)))
            .build()
            .header("Authorization", &format!("Bearer {}", self.key.expose_secret()))
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        let mut resp = match res {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Err(format!("the OpenAI API did not answer: {}", transport(&e)))),
        };
        let status = resp.status().as_u16();
        let raw = resp.body_mut().with_config().limit(MAX_OUTPUT as u64).read_to_vec().unwrap_or_default();
        if status != 200 {
            return (raw, Err(format!("the OpenAI API answered HTTP {status}")));
        }
        let text = output_text(&raw);
        (raw, text.and_then(|t| Review::parse(t.as_bytes()).map_err(|e| e.to_string())))
    }
}

fn transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => format!("network error: {other}"),
    }
}

/// The answer text of a Responses API body: a `completed` response whose
/// `message` items hold `output_text` parts (a refusal is an error). Pure.
pub fn output_text(body: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "the API's response is not JSON".to_owned())?;
    if v["status"] != "completed" {
        return Err(format!("the response is {}, not completed", v["status"]));
    }
    let mut text = String::new();
    for item in v["output"].as_array().ok_or("the response has no output")?.iter().filter(|i| i["type"] == "message") {
        for part in item["content"].as_array().into_iter().flatten() {
            match part["type"].as_str() {
                Some("output_text") => text.push_str(part["text"].as_str().ok_or("an output_text without text")?),
                Some("refusal") => return Err("the model refused to review".into()),
                _ => {}
            }
        }
    }
    if text.is_empty() { Err("the response holds no output_text".into()) } else { Ok(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_completed_message_counts() {
        let ok = br#"{"status":"completed","output":[{"type":"reasoning"},{"type":"message","content":[{"type":"output_text","text":"{\"a\":1}"}]}]}"#;
        assert_eq!(output_text(ok).unwrap(), r#"{"a":1}"#);
        assert!(output_text(br#"{"status":"incomplete","output":[]}"#).is_err());
        assert!(output_text(br#"{"status":"completed","output":[{"type":"message","content":[{"type":"refusal","refusal":"no"}]}]}"#).is_err());
        assert!(output_text(br#"{"status":"completed","output":[]}"#).is_err());
        assert!(output_text(b"<html>").is_err());
    }
}
