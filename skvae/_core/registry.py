"""Tables of classes by name, and the parameters those classes take.

Likelihoods and latent families are each one class, registered under the name
an estimator (or a saved model) uses for it. An estimator passes its parameters
by name; each class takes the ones it declares, so that a new class needs no
routing code in the estimators.
"""


class Registry(dict):
    """Classes (or builders) by name: the table that every name of one kind
    comes from."""

    def __init__(self, kind, base=object):
        super().__init__()
        self.kind = kind
        self.base = base

    def register(self, cls):
        """Add ``cls`` under ``cls.name``; usable as a class decorator.

        A name that is taken is an error, so that one class cannot silently
        replace another.
        """
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(
                f"A {self.kind} must subclass {self.base.__name__}, got {cls!r}."
            )
        if not isinstance(cls.name, str) or not cls.name:
            raise TypeError(f"{cls.__name__}.name must be a non-empty string.")
        if self.get(cls.name, cls) is not cls:
            raise ValueError(
                f"A {self.kind} named {cls.name!r} is registered already "
                f"({self[cls.name].__name__})."
            )
        self[cls.name] = cls
        return cls

    def lookup(self, name):
        """The class registered as ``name``; a ValueError for any other name."""
        if name not in self:
            raise ValueError(
                f"Unknown {self.kind} {name!r}; the registered ones are {sorted(self)}."
            )
        return self[name]


class Configurable:
    """A part whose constructor takes estimator parameters, by name.

    ``hyperparameters`` lists the estimator parameters the part reads: they go to
    its constructor as keyword arguments of the same names, are stored as
    attributes of the same names, and are given again by :meth:`configure`
    before every fit, so that ``warm_start`` and ``partial_fit`` train with
    the current values. A name the estimator lacks keeps the constructor's
    default.
    """

    hyperparameters = ()

    @classmethod
    def own_parameters(cls, parameters):
        """The entries of ``parameters`` (a mapping) that this part reads."""
        return {
            name: parameters[name] for name in cls.hyperparameters if name in parameters
        }

    def configure(self, parameters):
        for name, value in self.own_parameters(parameters).items():
            setattr(self, name, value)

    def config(self):
        """The parameters' current values: plain data, to rebuild the part."""
        return {name: getattr(self, name) for name in self.hyperparameters}
