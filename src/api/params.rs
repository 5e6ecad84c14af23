//! Parameter errors a person can act on.
//!
//! jsonrpsee ignores unknown named parameters (a misspelt `priorty` would silently become the
//! default) and reports a wrong type as "invalid type: string, expected u64 at line 1 column
//! 15", which does not say which parameter. This wrapper around every method refuses unknown
//! names (suggesting the closest known one) and rewrites type errors to name the parameter,
//! found from the position serde reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::FutureExt;
use jsonrpsee::core::server::{MethodCallback, MethodResponse, Methods};
use jsonrpsee::types::{ErrorObjectOwned, Id, Params};
use serde::de::IgnoredAny;

use super::error::invalid_param;
use crate::suggest::closest;

/// The parameter names one method accepts.
pub type Spec = (&'static str, &'static [&'static str]);

/// Wraps every method named in `specs`; others are kept as they are.
pub fn guard(methods: Methods, specs: &'static [Spec]) -> Methods {
    let mut guarded = Methods::new();
    let names: Vec<&'static str> = methods.method_names().collect();
    for name in names {
        let callback = methods.method(name).expect("listed by the module itself").clone();
        let callback = match specs.iter().find(|(method, _)| *method == name) {
            Some((_, accepted)) => wrap(name, accepted, callback),
            None => callback,
        };
        guarded.verify_and_insert(name, callback).expect("names come from a module without duplicates");
    }
    guarded
}

fn wrap(method: &'static str, accepted: &'static [&'static str], callback: MethodCallback) -> MethodCallback {
    match callback {
        MethodCallback::Sync(inner) => MethodCallback::Sync(Arc::new(move |id, params, max, ext| {
            if let Err(err) = check_names(method, accepted, &params) {
                return MethodResponse::error(id, err);
            }
            let (call_id, raw) = (id.clone().into_owned(), params.as_str().map(str::to_owned));
            name_the_parameter(inner(id, params, max, ext), call_id, raw.as_deref())
        })),
        MethodCallback::Async(inner) => MethodCallback::Async(Arc::new(move |id, params, conn, max, ext| {
            if let Err(err) = check_names(method, accepted, &params) {
                return futures_util::future::ready(MethodResponse::error(id, err)).boxed();
            }
            let (call_id, raw) = (id.clone().into_owned(), params.as_str().map(str::to_owned));
            inner(id, params, conn, max, ext).map(move |rp| name_the_parameter(rp, call_id, raw.as_deref())).boxed()
        })),
        MethodCallback::Subscription(inner) => {
            MethodCallback::Subscription(Arc::new(move |id, params, sink, state, ext| {
                if let Err(err) = check_names(method, accepted, &params) {
                    return futures_util::future::ready(MethodResponse::error(id, err)).boxed();
                }
                let (call_id, raw) = (id.clone().into_owned(), params.as_str().map(str::to_owned));
                inner(id, params, sink, state, ext)
                    .map(move |rp| name_the_parameter(rp, call_id, raw.as_deref()))
                    .boxed()
            }))
        }
        MethodCallback::Unsubscription(inner) => {
            MethodCallback::Unsubscription(Arc::new(move |id, params, conn, max, ext| {
                // jsonrpsee reads the subscription id positionally; accept it by name as well.
                match subscription_by_name(method, accepted, &params) {
                    Ok(Some(positional)) => inner(id, Params::new(Some(&positional)), conn, max, ext),
                    Ok(None) => inner(id, params, conn, max, ext),
                    Err(err) => MethodResponse::error(id, err),
                }
            }))
        }
    }
}

/// `{"subscription": ID}` as `[ID]`; positional params pass unchanged.
fn subscription_by_name(
    method: &str,
    accepted: &[&str],
    params: &Params<'_>,
) -> Result<Option<String>, ErrorObjectOwned> {
    let Some(text) = params.as_str().filter(|t| t.trim_start().starts_with('{')) else { return Ok(None) };
    check_names(method, accepted, params)?;
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| invalid_param("subscription", e.to_string()))?;
    match object.get("subscription") {
        Some(id @ (serde_json::Value::Number(_) | serde_json::Value::String(_))) => Ok(Some(format!("[{id}]"))),
        Some(_) => {
            Err(invalid_param("subscription", "must be the id that the subscribe call returned (a number or a string)"))
        }
        None => Err(invalid_param("subscription", "is required")),
    }
}

/// Refuses parameter names the method does not know, and positional parameters: the protocol
/// names every parameter (an empty array is taken as no parameters, as many clients send it).
fn check_names(method: &str, accepted: &[&str], params: &Params<'_>) -> Result<(), ErrorObjectOwned> {
    let Some(text) = params.as_str().map(str::trim) else { return Ok(()) };
    if text.starts_with('[') {
        if serde_json::from_str::<Vec<IgnoredAny>>(text).is_ok_and(|items| items.is_empty()) {
            return Ok(());
        }
        let example = match accepted.first() {
            Some(first) => format!(", e.g. {{\"{first}\": ...}}"),
            None => ": it takes none, so send {} or leave params out".to_owned(),
        };
        let problem = format!("`{method}` takes named parameters: send params as an object{example}");
        return Err(ErrorObjectOwned::owned(
            super::error::INVALID_PARAMS,
            problem.clone(),
            Some(serde_json::json!({ "kind": "invalid_params", "problem": problem })),
        ));
    }
    // Malformed objects are left for the method's own parsing to report.
    let Ok(given) = serde_json::from_str::<BTreeMap<String, IgnoredAny>>(text) else { return Ok(()) };
    let Some(unknown) = given.keys().find(|name| !accepted.contains(&name.as_str())) else { return Ok(()) };
    let known: Vec<String> = accepted.iter().map(|s| (*s).to_owned()).collect();
    let hint = match closest(unknown, &known) {
        Some(near) => format!("did you mean `{near}`? "),
        None => String::new(),
    };
    let list = if accepted.is_empty() {
        "it takes no parameters".to_owned()
    } else {
        format!("it accepts: {}", accepted.join(", "))
    };
    let problem = format!("`{method}` has no parameter `{unknown}`; {hint}{list}");
    Err(ErrorObjectOwned::owned(
        super::error::INVALID_PARAMS,
        problem.clone(),
        Some(serde_json::json!({ "kind": "invalid_params", "param": unknown, "problem": problem })),
    ))
}

/// Rewrites jsonrpsee's parameter errors so they name the parameter.
fn name_the_parameter(response: MethodResponse, id: Id<'static>, params: Option<&str>) -> MethodResponse {
    if response.as_error_code() != Some(super::error::INVALID_PARAMS) {
        return response;
    }
    let Some(detail) = serde_detail(&response) else { return response };
    match locate(&detail, params) {
        Some((param, problem)) => MethodResponse::error(id, invalid_param(&param, problem)),
        None => MethodResponse::error(
            id,
            super::error::with_kind(
                super::error::INVALID_PARAMS,
                "invalid_params",
                detail.clone(),
                serde_json::json!({ "problem": detail }),
            ),
        ),
    }
}

/// The `data` string of jsonrpsee's "Invalid params" error (serde's message), if that is what this is.
fn serde_detail(response: &MethodResponse) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(response.as_json().get()).ok()?;
    let error = value.get("error")?;
    if error.get("message")?.as_str()? != "Invalid params" {
        return None;
    }
    error.get("data")?.as_str().map(str::to_owned)
}

/// From serde's message to (parameter, problem).
fn locate(detail: &str, params: Option<&str>) -> Option<(String, String)> {
    if let Some(rest) = detail.strip_prefix("missing field `") {
        let name = rest.split('`').next()?;
        return Some((name.to_owned(), "is required".to_owned()));
    }
    let (problem, position) = detail.rsplit_once(" at line ")?;
    let (_, column) = position.split_once(" column ")?;
    let column: usize = column.trim().parse().ok()?;
    let key = key_at(params?, column.checked_sub(1)?)?;
    Some((key, problem.to_owned()))
}

/// The top-level key of a JSON object whose member contains byte `offset`.
///
/// Params arrive on one line (a raw newline ends a message), so serde's column is an offset.
fn key_at(object: &str, offset: usize) -> Option<String> {
    let bytes = object.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut string_start = 0;
    let mut last_string: Option<(usize, usize)> = None;
    let mut current_key: Option<(usize, usize)> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                last_string = Some((string_start, i));
            }
        } else {
            match b {
                b'"' => {
                    in_string = true;
                    string_start = i + 1;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.saturating_sub(1),
                b':' if depth == 1 => current_key = last_string,
                b',' if depth == 1 => current_key = None,
                _ => {}
            }
        }
        if i >= offset {
            break;
        }
    }
    let (start, end) = current_key?;
    serde_json::from_str::<String>(&format!("\"{}\"", &object[start..end])).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_at_finds_the_member_around_an_offset() {
        let text = r#"{"a":1,"grace_s":"x","nested":{"b":[1,2]},"e\"s":true}"#;
        let find = |needle: &str| key_at(text, text.find(needle).unwrap() + needle.len() - 1);
        assert_eq!(find(r#""x""#).as_deref(), Some("grace_s"));
        assert_eq!(find("[1,2]").as_deref(), Some("nested"));
        assert_eq!(find("true").as_deref(), Some("e\"s"));
        assert_eq!(find(":1").as_deref(), Some("a"));
        assert_eq!(key_at(text, 0), None);
    }

    #[test]
    fn locate_reads_serde_messages() {
        let params = r#"{"grace_s":"soon"}"#;
        let err = serde_json::from_str::<std::collections::HashMap<String, u64>>(params).unwrap_err().to_string();
        assert_eq!(
            locate(&err, Some(params)),
            Some(("grace_s".into(), r#"invalid type: string "soon", expected u64"#.into()))
        );
        assert_eq!(locate("missing field `topic`", None), Some(("topic".into(), "is required".into())));
        assert_eq!(locate("something else", Some(params)), None);
    }
}
