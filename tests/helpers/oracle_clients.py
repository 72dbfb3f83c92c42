"""Roboflow's official clients driven against our stand-ins: run with the oracle environment's Python (which has the
`oracle` extra's packages and not framesearch), it prints what each client got as one JSON object.

    python oracle_clients.py inference-sdk URL KEY CLIP_VERSION IMAGE...
    python oracle_clients.py roboflow-video API_URL KEY VIDEO FPS

It imports nothing of framesearch or of the tests: the clients alone speak to the stand-ins.
"""

from __future__ import annotations

import json
import os
import sys
import time


def inference_sdk(url: str, key: str, version: str, images: list[str]) -> dict:
    """`InferenceHTTPClient`'s CLIP calls: images in batches (two per request, two requests at once) and texts."""
    from inference_sdk import InferenceConfiguration, InferenceHTTPClient
    from inference_sdk.http.errors import HTTPCallErrorError

    client = InferenceHTTPClient(api_url=url, api_key=key)
    client.configure(InferenceConfiguration(max_batch_size=2, max_concurrent_requests=2))
    embedded = client.get_clip_image_embeddings(inference_input=images, clip_version=version)
    embedded = embedded if isinstance(embedded, list) else [embedded]
    texts = client.get_clip_text_embeddings(text=["a red circle", "a yellow star"], clip_version=version)
    single = client.get_clip_text_embeddings(text="a green triangle", clip_version=version)
    try:
        InferenceHTTPClient(api_url=url, api_key="wrong-oracle-key").get_clip_text_embeddings("x", clip_version=version)
        wrong = None
    except HTTPCallErrorError as exc:
        wrong = exc.status_code
    return {
        "images": [e["embeddings"][0] for e in embedded],
        "texts": texts["embeddings"],
        "single": single["embeddings"],
        "wrong_key_status": wrong,
    }


def roboflow_video(api_url: str, key: str, video: str, fps: int) -> dict:
    """The `roboflow` SDK's video inference: signed upload, job, polls (bounded), results from the signed output URL."""
    os.environ["API_URL"] = api_url  # the SDK reads it when imported
    from roboflow.models.clip import CLIPModel

    model = CLIPModel(api_key=key)
    job_id, signed_url, expires = model.predict_video(video, fps=fps, prediction_type="batch-video")
    results, polls = {}, 0
    while not results and polls < 100:
        polls += 1
        results = model.poll_for_video_results(job_id)
        if not results:
            time.sleep(0.05)
    return {"job_id": job_id, "signed_url": signed_url, "expires": expires, "polls": polls, "results": results}


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "inference-sdk":
        url, key, version, *images = args
        answer = inference_sdk(url, key, version, images)
    elif command == "roboflow-video":
        api_url, key, video, fps = args
        answer = roboflow_video(api_url, key, video, int(fps))
    else:
        raise SystemExit(f"unknown command {command}")
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
