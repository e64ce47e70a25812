"""The second line of defence: even a node that got past the tag check at composing
(a bug there, or a node composed elsewhere) is constructed by a loader that knows no
Python object. Composed by PyYAML itself and handed to our loader's constructor, a
`!!python/object/apply:os.system` node is refused and nothing runs."""

from __future__ import annotations

import pytest
import yaml

from dlzero_cli.config import source


@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.system", "!!python/object/new:os.system"]
)
def test_our_constructor_refuses_python_objects_composed_elsewhere(tmp_path, tag):
    marker = tmp_path / "ran"
    node = yaml.compose(f"seed: {tag} [touch {marker}]\n")  # PyYAML's own composer
    loader = source._Loader("")
    with pytest.raises(yaml.YAMLError, match="is not allowed"):
        loader.construct_document(node)
    assert not marker.exists()


def test_the_loader_is_a_safe_loader():
    assert issubclass(source._Loader, yaml.SafeLoader)
    assert not issubclass(source._Loader, (yaml.FullLoader, yaml.UnsafeLoader))
