package rollup

// DefaultPrices is the price table shipped with flowwatch: list prices in
// USD per million tokens as the providers publish them on their pricing
// pages (OpenAI, Anthropic, Google Gemini API, Mistral; checked in 2025),
// standard tier. Azure OpenAI's global deployments bill OpenAI's models at
// the same prices and report the same model names. Not modelled: batch
// discounts, long-context tiers (Gemini Pro above 200k tokens), regional
// surcharges and negotiated prices; override any entry in the `pricing`
// section of the configuration. A model missing here has no cost rather
// than a wrong one.
//
// Patterns end in "*" to cover dated snapshots ("gpt-4o-2024-08-06");
// the most specific pattern wins, so "gpt-4o-mini*" is not priced as
// "gpt-4o*".
func DefaultPrices() []Price {
	return []Price{
		// OpenAI.
		{Model: "gpt-5*", InputPerMTok: 1.25, CachedInputPerMTok: 0.125, OutputPerMTok: 10},
		{Model: "gpt-5-mini*", InputPerMTok: 0.25, CachedInputPerMTok: 0.025, OutputPerMTok: 2},
		{Model: "gpt-5-nano*", InputPerMTok: 0.05, CachedInputPerMTok: 0.005, OutputPerMTok: 0.4},
		{Model: "gpt-4.1*", InputPerMTok: 2, CachedInputPerMTok: 0.5, OutputPerMTok: 8},
		{Model: "gpt-4.1-mini*", InputPerMTok: 0.4, CachedInputPerMTok: 0.1, OutputPerMTok: 1.6},
		{Model: "gpt-4.1-nano*", InputPerMTok: 0.1, CachedInputPerMTok: 0.025, OutputPerMTok: 0.4},
		{Model: "gpt-4o*", InputPerMTok: 2.5, CachedInputPerMTok: 1.25, OutputPerMTok: 10},
		{Model: "gpt-4o-2024-05-13", InputPerMTok: 5, OutputPerMTok: 15},
		{Model: "gpt-4o-mini*", InputPerMTok: 0.15, CachedInputPerMTok: 0.075, OutputPerMTok: 0.6},
		{Model: "gpt-4-turbo*", InputPerMTok: 10, OutputPerMTok: 30},
		{Model: "gpt-4", InputPerMTok: 30, OutputPerMTok: 60},
		{Model: "gpt-4-0613", InputPerMTok: 30, OutputPerMTok: 60},
		{Model: "gpt-4-32k*", InputPerMTok: 60, OutputPerMTok: 120},
		{Model: "gpt-35-turbo*", InputPerMTok: 0.5, OutputPerMTok: 1.5}, // Azure's spelling
		{Model: "gpt-3.5-turbo*", InputPerMTok: 0.5, OutputPerMTok: 1.5},
		{Model: "o1*", InputPerMTok: 15, CachedInputPerMTok: 7.5, OutputPerMTok: 60},
		{Model: "o1-mini*", InputPerMTok: 1.1, CachedInputPerMTok: 0.55, OutputPerMTok: 4.4},
		{Model: "o3*", InputPerMTok: 2, CachedInputPerMTok: 0.5, OutputPerMTok: 8},
		{Model: "o3-mini*", InputPerMTok: 1.1, CachedInputPerMTok: 0.55, OutputPerMTok: 4.4},
		{Model: "o4-mini*", InputPerMTok: 1.1, CachedInputPerMTok: 0.275, OutputPerMTok: 4.4},
		{Model: "text-embedding-3-small*", InputPerMTok: 0.02},
		{Model: "text-embedding-3-large*", InputPerMTok: 0.13},
		{Model: "text-embedding-ada-002*", InputPerMTok: 0.1},

		// Anthropic (also as served by Bedrock and Vertex AI, whose model
		// names embed these).
		{Model: "*claude-opus-4-5*", InputPerMTok: 5, CachedInputPerMTok: 0.5, CacheWritePerMTok: 6.25, OutputPerMTok: 25},
		{Model: "*claude-opus-4*", InputPerMTok: 15, CachedInputPerMTok: 1.5, CacheWritePerMTok: 18.75, OutputPerMTok: 75},
		{Model: "*claude-3-opus*", InputPerMTok: 15, CachedInputPerMTok: 1.5, CacheWritePerMTok: 18.75, OutputPerMTok: 75},
		{Model: "*claude-sonnet-4*", InputPerMTok: 3, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75, OutputPerMTok: 15},
		{Model: "*claude-3-7-sonnet*", InputPerMTok: 3, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75, OutputPerMTok: 15},
		{Model: "*claude-3-5-sonnet*", InputPerMTok: 3, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75, OutputPerMTok: 15},
		{Model: "*claude-haiku-4-5*", InputPerMTok: 1, CachedInputPerMTok: 0.1, CacheWritePerMTok: 1.25, OutputPerMTok: 5},
		{Model: "*claude-3-5-haiku*", InputPerMTok: 0.8, CachedInputPerMTok: 0.08, CacheWritePerMTok: 1, OutputPerMTok: 4},
		{Model: "*claude-3-haiku*", InputPerMTok: 0.25, CachedInputPerMTok: 0.03, CacheWritePerMTok: 0.3, OutputPerMTok: 1.25},

		// Google Gemini (prompts up to 200k tokens; 128k for 1.5).
		{Model: "gemini-2.5-pro*", InputPerMTok: 1.25, CachedInputPerMTok: 0.31, OutputPerMTok: 10},
		{Model: "gemini-2.5-flash*", InputPerMTok: 0.3, CachedInputPerMTok: 0.075, OutputPerMTok: 2.5},
		{Model: "gemini-2.5-flash-lite*", InputPerMTok: 0.1, CachedInputPerMTok: 0.025, OutputPerMTok: 0.4},
		{Model: "gemini-2.0-flash*", InputPerMTok: 0.1, CachedInputPerMTok: 0.025, OutputPerMTok: 0.4},
		{Model: "gemini-2.0-flash-lite*", InputPerMTok: 0.075, OutputPerMTok: 0.3},
		{Model: "gemini-1.5-pro*", InputPerMTok: 1.25, OutputPerMTok: 5},
		{Model: "gemini-1.5-flash*", InputPerMTok: 0.075, OutputPerMTok: 0.3},
		{Model: "text-embedding-004", InputPerMTok: 0},
		{Model: "gemini-embedding-001", InputPerMTok: 0.15},

		// Mistral.
		{Model: "mistral-large*", InputPerMTok: 2, OutputPerMTok: 6},
		{Model: "mistral-medium*", InputPerMTok: 0.4, OutputPerMTok: 2},
		{Model: "mistral-small*", InputPerMTok: 0.1, OutputPerMTok: 0.3},
		{Model: "open-mistral-nemo*", InputPerMTok: 0.15, OutputPerMTok: 0.15},
		{Model: "ministral-8b*", InputPerMTok: 0.1, OutputPerMTok: 0.1},
		{Model: "ministral-3b*", InputPerMTok: 0.04, OutputPerMTok: 0.04},
		{Model: "codestral*", InputPerMTok: 0.3, OutputPerMTok: 0.9},
		{Model: "pixtral-large*", InputPerMTok: 2, OutputPerMTok: 6},
		{Model: "mistral-embed*", InputPerMTok: 0.1},
	}
}
