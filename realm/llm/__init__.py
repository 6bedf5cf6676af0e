"""realm.llm: the one seam to chat models, shared by extraction and harmonization.

One module per job, lowest stage of the package (it imports no other stage):

- :mod:`~realm.llm.config`: :class:`ChatModelConfig` (the ``model:`` section of an LLM config
  YAML) and its loader;
- :mod:`~realm.llm.build`: a LangChain chat model from that config, and the model id that
  keys caches;
- :mod:`~realm.llm.privacy`: the guard that keeps patient text on local endpoints (base URL,
  proxies from options, HTTP clients and the environment);
- :mod:`~realm.llm.runtime`: a probe that makes a dead local server one clear error, and one
  call at a time for in-process models;
- :mod:`~realm.llm.methods`: the structured-output methods (tools, json_schema, json_mode,
  grammar, text) and how to ask a model through each;
- :mod:`~realm.llm.negotiation`: which method an endpoint answers through, learnt per run;
- :mod:`~realm.llm.failures`: what a failed call means (retry, fall back, stop) and its
  message without the request's words;
- :mod:`~realm.llm.client`: one call with retries, negotiated structured output, loud errors;
- :mod:`~realm.llm.cache`: the content-addressed response cache;
- :mod:`~realm.llm.fake`: scripted chat models for tests and dry runs.

What a caller asks and how it reads the answers (prompts, schemas, votes) stays with the
caller (realm.extract.llm, realm.harmonize.llm_backend).
"""
