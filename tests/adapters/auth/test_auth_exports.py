import adapters.auth


def test_exported_names_exist():
    for name in adapters.auth.__all__:
        assert hasattr(adapters.auth, name), name
    assert sorted(adapters.auth.__all__) == sorted(set(adapters.auth.__all__))
