"""The copyable examples on the Server page: the base URL in a curl line and in Python."""

from __future__ import annotations


def curl_snippet(base_url: str, model: str, *, key: bool) -> str:
    auth = ' \\\n  -H "Authorization: Bearer $LMDESK_API_KEY"' if key else ""
    return (
        f"curl {base_url}/chat/completions{auth} \\\n"
        '  -H "Content-Type: application/json" \\\n'
        f'  -d \'{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello"}}]}}\''
    )


def python_snippet(base_url: str, model: str, *, key: bool) -> str:
    api_key = 'os.environ["LMDESK_API_KEY"]' if key else '"lmdesk"  # any text: no key is set'
    head = "import os\n\n" if key else ""
    return (
        f"{head}from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base_url}", api_key={api_key})\n'
        "reply = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        '    messages=[{"role": "user", "content": "Hello"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)"
    )
