//! DescribeCustomKeyStores. Keys live in the store the endpoint runs with
//! and there are no custom key stores (CloudHSM, external), so the list is
//! empty and one asked for by id or name is not found, as AWS answers for a
//! store that does not exist. Inventory tools and scripts that list an
//! account's custom key stores then work; creating one is not served
//! (`not_served.rs`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{CUSTOM_KEY_STORES, response};
use super::wire::{check_text, decode};
use super::{Api, ApiError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    custom_key_store_id: Option<String>,
    custom_key_store_name: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

impl Api {
    pub(super) async fn describe_custom_key_stores(&self, body: &[u8]) -> Result<Value, ApiError> {
        let input: DescribeInput = decode(body)?;
        if let Some(id) = &input.custom_key_store_id {
            check_text("customKeyStoreId", id, 1, 64)?;
        }
        if let Some(name) = &input.custom_key_store_name {
            check_text("customKeyStoreName", name, 1, 256)?;
        }
        let page = CUSTOM_KEY_STORES.page(
            Vec::<Value>::new(),
            input.limit,
            input.marker.as_deref(),
            |_| String::new(),
        )?;
        if input.custom_key_store_id.is_some() || input.custom_key_store_name.is_some() {
            return Err(ApiError::CustomKeyStoreNotFound(
                "The request was rejected because AWS KMS cannot find a custom key store with \
                 the specified key store name or ID."
                    .into(),
            ));
        }
        Ok(response(
            json!({ "CustomKeyStores": page.items }),
            page.next,
        ))
    }
}
