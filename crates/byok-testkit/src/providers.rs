//! One entry point per provider: `MockOpenAi::start()`, `MockOpenAi::builder()`, ...

use byok_keys::Provider;

use crate::mock::{MockBuilder, MockProvider};

macro_rules! provider_mock {
    ($name:ident, $provider:expr, $display:literal) => {
        #[doc = concat!("A mock ", $display, " API.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            #[doc = concat!("Start a mock ", $display, " that accepts every key ([`Scenario::Valid`](crate::Scenario::Valid)).")]
            pub async fn start() -> MockProvider {
                Self::builder().start().await
            }

            #[doc = concat!("Configure a mock ", $display, " before starting it.")]
            pub fn builder() -> MockBuilder {
                MockBuilder::new($provider)
            }
        }
    };
}

provider_mock!(MockOpenAi, Provider::OpenAi, "OpenAI");
provider_mock!(MockAnthropic, Provider::Anthropic, "Anthropic");
provider_mock!(MockGemini, Provider::Google, "Gemini");
provider_mock!(MockOpenRouter, Provider::OpenRouter, "OpenRouter");
provider_mock!(MockGroq, Provider::Groq, "Groq");
provider_mock!(MockXAi, Provider::XAi, "xAI");
provider_mock!(MockDeepSeek, Provider::DeepSeek, "DeepSeek");
provider_mock!(MockMistral, Provider::Mistral, "Mistral");
provider_mock!(MockTogether, Provider::Together, "Together AI");
provider_mock!(MockFireworks, Provider::Fireworks, "Fireworks AI");
provider_mock!(MockPerplexity, Provider::Perplexity, "Perplexity");
provider_mock!(MockAzureOpenAi, Provider::AzureOpenAi, "Azure OpenAI");
provider_mock!(MockBedrock, Provider::Bedrock, "Amazon Bedrock");
provider_mock!(MockCohere, Provider::Cohere, "Cohere");
