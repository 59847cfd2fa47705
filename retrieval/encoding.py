"""Which encoder embeds an open index, and switching an index to another one.

An :class:`EncoderBinding` gives the index the encoder its manifest records (refusing a
mismatched one the settings name, :func:`retrieval.manifest.encoder_choice`). It looks again
whenever the manifest records another encoder, i.e. after a reader switched to a newer
generation: when ``caseloop tune`` re-embeds the index with a tuned model, readers that follow
the index load the tuned model; readers whose settings name the old one start refusing. A query
embedded just before such a switch may meet the new vectors once.

:func:`reembed` embeds every case again with another encoder and replaces the collection in one
step (:meth:`retrieval.engine.Engine.rebuild`): one new generation on the embedded engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from retrieval.dense import DenseEncoder, load_encoder
from retrieval.engine import StoredPoint
from retrieval.manifest import EncoderChoice, encoder_choice
from retrieval.settings import RetrievalSettings

if TYPE_CHECKING:
    from retrieval.index import Index
    from retrieval.verdict import VerdictPolicy

Progress = Callable[[int, int], None]
_BATCH = 256


class EncoderBinding:
    """The encoder of one open index, following its manifest."""

    def __init__(self, settings: RetrievalSettings, where: str) -> None:
        self._settings = settings
        self._where = where
        self._lock = threading.Lock()
        self._seen: object = None
        self._choice: EncoderChoice | None = None
        self._encoder: DenseEncoder | None = None

    def choice(self, manifest: Mapping[str, Any]) -> EncoderChoice:
        """The encoder ``manifest`` asks for (checked against the settings)."""
        record = manifest.get("encoder")
        with self._lock:
            if self._choice is None or record != self._seen:
                choice = encoder_choice(manifest, self._settings, self._where)
                if choice != self._choice:
                    self._choice, self._encoder = choice, None
                self._seen = record
            return self._choice

    def encoder(self, manifest: Mapping[str, Any]) -> DenseEncoder:
        """The loaded encoder for ``manifest`` (shared per process)."""
        choice = self.choice(manifest)
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = load(choice, self._settings)
        return encoder

    def adopt(self, choice: EncoderChoice) -> None:
        """Use ``choice`` from now on (this process just re-embedded the index with it)."""
        update: dict[str, Any] = {"encoder": choice.backend}
        if self._settings.model is not None:
            update["model"] = str(choice.model.folder)
        with self._lock:
            self._settings = self._settings.model_copy(update=update)
            self._seen, self._choice, self._encoder = choice.record(), choice, None


def load(choice: EncoderChoice, settings: RetrievalSettings) -> DenseEncoder:
    """The process-wide encoder of ``choice`` with the settings' threads and ONNX cache."""
    return load_encoder(
        choice.backend,
        threads=settings.encoder_threads,
        model_dir=settings.model_dir,
        model=choice.model,
    )


def reembed(
    index: Index,
    choice: EncoderChoice,
    settings: RetrievalSettings,
    progress: Progress | None,
    policy: VerdictPolicy | None = None,
) -> None:
    """Embed every case of ``index`` with ``choice`` and replace the collection with the result
    (with ``policy`` as the index's verdict policy when given)."""
    encoder = load(choice, settings)
    engine = index.engine
    manifest = dict(engine.manifest() or {})
    manifest.update(model=choice.model.name, dimension=choice.model.dimension)
    manifest["encoder"] = choice.record()
    if policy is not None:
        manifest["policy"] = policy.to_dict()
    total = engine.count()

    def batches() -> Iterator[Sequence[StoredPoint]]:
        done = 0
        for payloads in engine.scan(_BATCH):
            yield index.stored_points(payloads, encoder.encode([p["text"] for p in payloads]))
            done += len(payloads)
            if progress:
                progress(done, total)

    engine.rebuild(manifest, batches(), choice.model.dimension)
