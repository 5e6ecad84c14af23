//! steward's own JSON-RPC errors: a code in -32000..-32099 and a `data` object naming the kind.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Value, json};

/// Parameters were well-formed JSON but not acceptable (standard JSON-RPC code).
pub const INVALID_PARAMS: i32 = -32602;

/// An invalid parameter, with the parameter's name and what to do.
pub fn invalid_param(param: &str, problem: impl Into<String>) -> ErrorObjectOwned {
    let problem = problem.into();
    ErrorObjectOwned::owned(
        INVALID_PARAMS,
        format!("invalid `{param}`: {problem}"),
        Some(json!({ "kind": "invalid_params", "param": param, "problem": problem })),
    )
}

/// An error of a kind with extra data fields.
pub fn with_kind(code: i32, kind: &str, message: impl Into<String>, extra: Value) -> ErrorObjectOwned {
    let mut data = json!({ "kind": kind });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    ErrorObjectOwned::owned(code, message.into(), Some(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_their_kind() {
        let err = invalid_param("grace_s", "must be at most 3600");
        assert_eq!(err.code(), -32602);
        assert_eq!(err.message(), "invalid `grace_s`: must be at most 3600");
        let data: Value = serde_json::from_str(err.data().unwrap().get()).unwrap();
        assert_eq!(data, json!({"kind": "invalid_params", "param": "grace_s", "problem": "must be at most 3600"}));
        let err = with_kind(-32021, "not_found", "no task 42", json!({"id": 42}));
        let data: Value = serde_json::from_str(err.data().unwrap().get()).unwrap();
        assert_eq!(data, json!({"kind": "not_found", "id": 42}));
    }
}
