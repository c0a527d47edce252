//! The rules for a key's parameters ([`Params`]) in the vault, at add, edit and
//! rotation: what the provider needs is given, it fits the key, and a Bedrock
//! short-term key's region is the one inside the token.

use crate::keys::params::{Params, UncheckedParams};
use crate::keys::{ApiKey, KeyKind, Provider, bedrock};
use crate::store::refuse_secrets;

use super::VaultError;

/// Where the parameters checked by [`for_key`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Given {
    /// The caller gave them (add, edit, or a rotation with new ones): a value
    /// that contradicts the key is refused.
    Explicitly,
    /// Kept from the record (a rotation without new ones): a value the key itself
    /// carries (a short-term key's region) is taken from the new key.
    Kept,
}

/// The parameters to store with `key`: `given` checked against the key's
/// provider (`unknown_param` for another provider's names), a Bedrock short-term
/// key's region filled from its token (`invalid_param` if `given` names another
/// region explicitly), and `missing_param` when the provider needs parameters
/// that are not there. `None` for a key without any.
pub(super) fn for_key(
    key: &ApiKey,
    given: Option<&Params>,
    source: Given,
) -> Result<Option<Params>, VaultError> {
    let provider = key.provider();
    let given = match given {
        Some(p) if p.provider() != provider => Some(UncheckedParams::from(p).check(provider)?),
        Some(p) => Some(p.clone()),
        None => None,
    };
    if let Some(p) = &given {
        for (name, value) in p.iter() {
            refuse_secrets(name, value)?;
        }
    }
    if provider == Provider::Bedrock && key.kind() == KeyKind::ShortTerm {
        let token = bedrock::decode_short_term(key.expose_secret())?;
        let region = token.region();
        if source == Given::Explicitly {
            if let Some(stated) = given
                .as_ref()
                .and_then(|p| p.iter().find(|(n, _)| *n == "region"))
            {
                if stated.1 != region {
                    return Err(VaultError::ParamContradictsKey {
                        name: "region",
                        in_key: region.to_owned(),
                    });
                }
            }
        }
        return Ok(Some(Params::new(provider, [("region", region)])?));
    }
    match given {
        Some(p) if !p.is_empty() => Ok(Some(p)),
        // Nothing given: fine for a provider without required parameters, else
        // `missing_param` naming the first one, with an example.
        _ => Params::none(provider)
            .map(|_| None)
            .map_err(VaultError::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::fake;
    use std::time::Duration;

    fn key(provider: Provider, kind: KeyKind) -> ApiKey {
        ApiKey::parse_for(provider, &fake::key(provider, kind, 5)).unwrap()
    }

    fn short_term(region: &str) -> ApiKey {
        let raw = fake::bedrock_short_term(
            5,
            region,
            fake::short_term_issued(),
            Duration::from_secs(3600),
        );
        ApiKey::parse_for(Provider::Bedrock, &raw).unwrap()
    }

    fn bedrock(region: &str) -> Params {
        Params::new(Provider::Bedrock, [("region", region)]).unwrap()
    }

    #[test]
    fn required_params_must_be_given() {
        let azure = key(Provider::AzureOpenAi, KeyKind::Standard);
        let err = for_key(&azure, None, Given::Explicitly).unwrap_err();
        assert_eq!(err.code(), "missing_param");
        let hint = err.hint().unwrap();
        assert!(hint.contains("resource=my-resource"), "{hint}");
        let long = key(Provider::Bedrock, KeyKind::LongTerm);
        let err = for_key(&long, None, Given::Kept).unwrap_err();
        assert_eq!(err.code(), "missing_param");
        assert!(err.hint().unwrap().contains("region=us-east-1"));
        assert_eq!(
            for_key(&long, Some(&bedrock("eu-west-1")), Given::Explicitly).unwrap(),
            Some(bedrock("eu-west-1"))
        );
        let openai = key(Provider::OpenAi, KeyKind::Project);
        assert_eq!(for_key(&openai, None, Given::Explicitly).unwrap(), None);
    }

    #[test]
    fn another_providers_params_are_refused() {
        let openai = key(Provider::OpenAi, KeyKind::Project);
        let err = for_key(&openai, Some(&bedrock("us-east-1")), Given::Explicitly).unwrap_err();
        assert_eq!(err.code(), "unknown_param");
        let azure = key(Provider::AzureOpenAi, KeyKind::Standard);
        let err = for_key(&azure, Some(&bedrock("us-east-1")), Given::Explicitly).unwrap_err();
        assert_eq!(err.code(), "unknown_param");
    }

    #[test]
    fn a_short_term_keys_region_comes_from_its_token() {
        let key = short_term("ap-northeast-1");
        assert_eq!(
            for_key(&key, None, Given::Explicitly).unwrap(),
            Some(bedrock("ap-northeast-1"))
        );
        assert_eq!(
            for_key(&key, Some(&bedrock("ap-northeast-1")), Given::Explicitly).unwrap(),
            Some(bedrock("ap-northeast-1"))
        );
        let err = for_key(&key, Some(&bedrock("us-east-1")), Given::Explicitly).unwrap_err();
        assert_eq!(err.code(), "invalid_param");
        let hint = err.hint().unwrap();
        assert!(hint.contains("ap-northeast-1"), "{hint}");
        // A rotation to a token of another region follows the new token.
        assert_eq!(
            for_key(&key, Some(&bedrock("us-east-1")), Given::Kept).unwrap(),
            Some(bedrock("ap-northeast-1"))
        );
    }
}
