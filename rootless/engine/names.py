"""Docker-style random container names ("brave_turing")."""
from __future__ import annotations

import random
import re
from typing import Callable

from rootless.errors import InvalidArgument

ADJECTIVES = (
    "admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold boring brave busy "
    "charming clever compassionate competent condescending confident cool cranky crazy dazzling determined "
    "distracted dreamy eager ecstatic elastic elated elegant eloquent epic exciting fervent festive flamboyant "
    "focused friendly frosty funny gallant gifted goofy gracious great happy hardcore heuristic hopeful hungry "
    "infallible inspiring intelligent interesting jolly jovial keen kind laughing loving lucid magical modest "
    "musing mystifying naughty nervous nice nifty nostalgic objective optimistic peaceful pedantic pensive "
    "practical priceless quirky quizzical recursing relaxed reverent romantic sad serene sharp silly sleepy "
    "stoic strange stupefied suspicious sweet tender thirsty trusting unruffled upbeat vibrant vigilant "
    "vigorous wizardly wonderful xenodochial youthful zealous zen"
).split()
SCIENTISTS = (
    "agnesi albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach bardeen bartik "
    "bassi beaver bell bhabha bhaskara blackburn blackwell bohr booth borg bose boyd brahmagupta brattain "
    "brown carson cartwright cerf chandrasekhar chaplygin chatelet chatterjee chebyshev clarke cohen colden "
    "cori cray curie darwin davinci dewdney dhawan diffie dijkstra dirac driscoll dubinsky easley edison "
    "einstein elbakyan elgamal elion ellis engelbart euclid euler faraday feistel fermat fermi feynman "
    "franklin gagarin galileo galois ganguly gates gauss germain goldberg goldstine goldwasser golick "
    "goodall gould greider grothendieck haibt hamilton haslett hawking heisenberg hellman hermann herschel "
    "hertz heyrovsky hodgkin hofstadter hoover hopper hugle hypatia jackson jang jennings jepsen johnson "
    "joliot jones kalam kapitsa kare keldysh keller kepler khayyam khorana kilby kirch knuth kowalevski "
    "lalande lamarr lamport leakey leavitt lederberg lehmann lewin lichterman liskov lovelace lumiere "
    "mahavira margulis matsumoto maxwell mayer mccarthy mcclintock mclaren mclean mcnulty meitner mendel "
    "mendeleev meninsky merkle mestorf mirzakhani montalcini moore morse moser murdock napier nash neumann "
    "newton nightingale nobel noether northcutt noyce panini pare pascal pasteur payne perlman pike poincare "
    "poitras proskuriakova ptolemy raman ramanujan rhodes ride ritchie robinson roentgen rosalind rubin "
    "saha sammet sanderson satoshi shamir shannon shaw shirley shockley shtern sinoussi snyder solomon "
    "spence stonebraker sutherland swanson swartz swirles taussig tesla tharp thompson torvalds tu turing "
    "varahamihira vaughan villani visvesvaraya volhard wescoff wilbur wiles williams williamson wilson wing "
    "wozniak wright wu yalow yonath zhukovsky"
).split()

# dockerd's RestrictedNamePattern (daemon/names): at least two characters. Matched
# with fullmatch: "$" would also match before a trailing newline ("web\n").
NAME_RE = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")
MAX_NAME = 255  # no docker limit; a bound keeps `docker ps` and the records sane


def random_name(taken: Callable[[str], bool]) -> str:
    """A free adjective_scientist name (with a digit suffix after many collisions)."""
    for attempt in range(100):
        name = f"{random.choice(ADJECTIVES)}_{random.choice(SCIENTISTS)}"
        if attempt > 10:
            name += str(random.randint(0, 9))
        if not taken(name):
            return name
    raise InvalidArgument("could not generate a free container name")


def validate_name(name: str) -> str:
    """The name without its leading slash, or InvalidArgument like docker's."""
    if len(name.lstrip("/")) > MAX_NAME:
        raise InvalidArgument(f"Invalid container name ({name[:64]}...), at most {MAX_NAME} characters are allowed")
    if not NAME_RE.fullmatch(name):
        shown = name if name.isprintable() else repr(name)  # a newline must not split the message
        raise InvalidArgument(f"Invalid container name ({shown}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")
