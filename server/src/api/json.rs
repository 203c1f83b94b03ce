//! `CiJson<T>`: the JSON body extractor of every `/v1` route.
//!
//! - Content types: `application/json`, `text/json`, any `application/*+json`, or none.
//! - Keys match case-insensitively: `FirstName`, `firstName`, `FIRSTNAME` and the struct's
//!   own `FirstName` are one field. This is done by a deserializer wrapper that, when serde
//!   asks for a struct, renames each object key to the struct field it equals ignoring
//!   case; nested structs, options and sequences are wrapped too. Unknown keys are ignored.
//! - A key given twice in one object is refused: exactly (`400`, before anything else reads
//!   the body, so no two parsers can disagree on which one counts) or in another case
//!   (`422`, the field named).
//! - An empty body or `null` is `{}`. Malformed JSON or a body that is not an object → 400;
//!   a struct sent as anything but an object (an array of its fields) or a field of the wrong type → 422
//!   naming the field (`UserFields.EnableTracking`); bodies over the limit → 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde_json::Value;

use super::error::ApiError;
use tus_core::FieldErrors;

/// Largest request body any route accepts.
pub const MAX_BODY: usize = 1024 * 1024;

pub struct CiJson<T>(pub T);

fn json_content_type(value: Option<&str>) -> bool {
    let Some(value) = value else { return true };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.is_empty()
        || mime == "application/json"
        || mime == "text/json"
        || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for CiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("invalid"));
        if !json_content_type(content_type) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        parse_body(&bytes).map(CiJson)
    }
}

/// Parses a body as `T` with the rules above. An empty body, or `null`, counts as `{}`.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice::<Strict>(bytes)
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?
            .0
        {
            Value::Null => Value::Object(Default::default()),
            value => value,
        }
    };
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    serde_path_to_error::deserialize(CiValue(value)).map_err(|e| {
        let path = e.path().to_string();
        let mut errors = FieldErrors::default();
        errors.push(
            if path == "." { String::new() } else { path },
            e.inner().to_string(),
        );
        ApiError::from(errors)
    })
}

/// A JSON value in which no object gives a key twice (`serde_json::Value` would keep the
/// last one silently).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key `{key}` is given twice"
                )));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A JSON value whose objects match struct fields case-insensitively.
struct CiValue(Value);

impl<'de> IntoDeserializer<'de, serde_json::Error> for CiValue {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! delegate {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(visitor)
        })*
    };
}

/// An integer field takes a number written with a zero fraction (`20.0`, `-3e2`): JSON
/// Schema counts it as an integer, and generated clients (and JavaScript) may send one. Only
/// exactly representable values qualify (at most 2^53 in magnitude); anything else (`1.5`,
/// `1e300`) still fails as a float, and the integer's own range check still applies.
macro_rules! integers {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            match integral(&self.0) {
                Some(n) => Value::from(n).$method(visitor),
                None => self.0.$method(visitor),
            }
        })*
    };
}

/// The integer a float with a zero fraction stands for, when it is exact.
fn integral(value: &Value) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let n = value.as_number().filter(|n| n.is_f64())?.as_f64()?;
    (n.fract() == 0.0 && n.abs() <= EXACT).then_some(n as i64)
}

impl<'de> Deserializer<'de> for CiValue {
    type Error = serde_json::Error;

    delegate!(
        deserialize_any,
        deserialize_bool,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any,
        deserialize_i128,
        deserialize_u128,
    );
    integers!(
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
    );

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(CiValue(other)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter().map(CiValue));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut access =
                    MapDeserializer::new(map.into_iter().map(|(k, v)| (k, CiValue(v))));
                let value = visitor.visit_map(&mut access)?;
                access.end()?;
                Ok(value)
            }
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => {
                // Rename each key to the field it matches; two keys naming one field
                // (`Email` and `email`) become a duplicate-field error from serde itself.
                let renamed = map.into_iter().map(|(key, value)| {
                    let field = fields
                        .iter()
                        .find(|f| f.eq_ignore_ascii_case(&key))
                        .map(|f| f.to_string());
                    (field.unwrap_or(key), CiValue(value))
                });
                let mut access = MapDeserializer::new(renamed);
                let value = visitor.visit_map(&mut access)?;
                access.end()?;
                Ok(value)
            }
            // serde would fill a struct from an array, field by field in declaration order
            // (`"UserFields": [false, true]`): an object is what every struct is sent as.
            Value::Array(_) => Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Seq,
                &"an object",
            )),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tus_wire::model::RegisterRequest;

    fn parse(body: &str) -> Result<RegisterRequest, ApiError> {
        parse_body(body.as_bytes())
    }

    #[test]
    fn keys_match_in_any_case_at_every_level() {
        let r = parse(r#"{"firstName":"Ann","LASTNAME":"Lee","userFields":{"clientID":"c1","enabletracking":false}}"#)
            .unwrap();
        assert_eq!(r.first_name.as_deref(), Some("Ann"));
        assert_eq!(r.last_name.as_deref(), Some("Lee"));
        let f = r.user_fields.unwrap();
        assert_eq!(f.client_id.as_deref(), Some("c1"));
        assert_eq!(f.enable_tracking, Some(false));
    }

    #[test]
    fn unknown_keys_are_ignored_and_empty_bodies_are_objects() {
        assert!(parse(r#"{"Whatever": [1, 2], "FirstName": null}"#).is_ok());
        assert!(parse("").is_ok());
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        match parse(r#"{"userFields":{"EnableTracking":"yes"}}"#) {
            Err(ApiError::Core(tus_core::CoreError::Validation(e))) => {
                assert_eq!(e.0[0].key, "UserFields.EnableTracking");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_same_field_twice_in_different_case_is_refused() {
        assert!(matches!(
            parse(r#"{"Email":"a@b.c","email":"d@e.f"}"#),
            Err(ApiError::Core(_))
        ));
    }

    #[test]
    fn the_same_key_twice_is_refused_at_any_depth() {
        for body in [
            r#"{"FirstName":"Ann","FirstName":"Eve"}"#,
            r#"{"UserFields":{"ClientId":"a","ClientId":"b"}}"#,
            r#"{"X":[{"a":1,"a":2}]}"#,
        ] {
            assert!(
                matches!(parse(body), Err(ApiError::BadRequest(m)) if m.contains("twice")),
                "{body}"
            );
        }
    }

    #[test]
    fn a_struct_is_an_object_never_an_array_of_its_fields() {
        // An attacker's positional form: before, `[false, true]` set EnableTracking false and
        // EnableLogging true.
        for body in [
            r#"{"UserFields": [false, true]}"#,
            r#"{"UserFields": [null, null]}"#,
            r#"{"MobileDevice": ["uid", "model"]}"#,
        ] {
            match parse(body) {
                Err(ApiError::Core(tus_core::CoreError::Validation(e))) => {
                    assert!(e.0[0].message.contains("an object"), "{body}: {e:?}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(parse(r#"{"UserFields": null}"#)
            .unwrap()
            .user_fields
            .is_none());
    }

    #[test]
    fn a_null_body_is_an_empty_one() {
        assert_eq!(parse("null").unwrap(), RegisterRequest::default());
        assert!(matches!(parse("[]"), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse("3"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn integer_fields_take_whole_floats_and_nothing_else() {
        let page = |body: &str| parse_body::<tus_wire::model::UserPageRequest>(body.as_bytes());
        let ok = page(r#"{"PageNumber": 14829.0, "PageSize": 2e1}"#).unwrap();
        assert_eq!((ok.page_number, ok.page_size), (Some(14829), Some(20)));
        assert_eq!(
            page(r#"{"PageNumber": -0.0}"#).unwrap().page_number,
            Some(0)
        );
        // An attacker's fractions, huge values and values past exactness are type errors,
        // named by field, as before.
        for body in [
            r#"{"PageNumber": 1.5}"#,
            r#"{"PageNumber": 1e300}"#,
            r#"{"PageNumber": 9007199254740994.0}"#,
            r#"{"PageNumber": -1.7976931348623157e308}"#,
            r#"{"PageNumber": 5e-324}"#,
        ] {
            match page(body) {
                Err(ApiError::Core(tus_core::CoreError::Validation(e))) => {
                    assert_eq!(e.0[0].key, "PageNumber", "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        // A narrower integer keeps its own range: 300.0 is no u8.
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Small {
            n: u8,
        }
        assert!(parse_body::<Small>(br#"{"n": 300.0}"#).is_err());
        assert_eq!(parse_body::<Small>(br#"{"n": 255.0}"#).unwrap().n, 255);
    }

    #[test]
    fn malformed_json_and_non_objects_are_bad_requests() {
        assert!(matches!(parse("{"), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse("[]"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn json_content_types_are_recognised() {
        for ok in [
            None,
            Some("application/json"),
            Some("text/json; charset=utf-8"),
            Some("application/json-patch+json"),
        ] {
            assert!(json_content_type(ok), "{ok:?}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
        ] {
            assert!(!json_content_type(Some(bad)), "{bad}");
        }
    }
}
