"""Instruction tasks in four languages, NLU framed as generation ("this is a positive sentiment").

`FAMILIES` is the registry: task family -> cluster, source, metric and the function that makes one task.
Every family is in every split (items disjoint by content key); a row carries its cluster in `meta.cluster`,
so a recipe holds whole clusters out with `generalization.held_out` and the suites of those clusters measure
zero-shot generalization (FLAN's protocol; `harness study leave-one-out` runs it cluster by cluster).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

from harness.data.builtin import draw

LANGUAGES = ("en", "fr", "de", "es")

# One function per family: (language, rng) -> (content key, input text, answer).


def _sentiment(language: str, rng: random.Random) -> tuple[str, str, str]:
    subjects, verb, positive, negative, answer, labels = SENTIMENT[language]
    polarity = rng.choice(["positive", "negative"])
    first, second = rng.sample(subjects, 2)
    adjectives = rng.sample(positive if polarity == "positive" else negative, 2)
    text = f"{first} {verb} {adjectives[0]}."
    if rng.random() < 0.7:  # two clauses of one polarity widen the item space
        text = f"{first} {verb} {adjectives[0]}, {second[0].lower()}{second[1:]} {verb} {adjectives[1]}."
    return text, text, answer.format(labels[polarity])


def _topic(language: str, rng: random.Random) -> tuple[str, str, str]:
    answer, topics = TOPICS[language]
    label, sentences = topics[rng.choice(sorted(topics))]
    text = rng.choice(sentences)
    return text, text, answer.format(label)


def _intent(language: str, rng: random.Random) -> tuple[str, str, str]:
    answer, intents = INTENTS[language]
    label, template = intents[rng.choice(sorted(intents))]
    text = template.format(n=rng.randint(2, 12), c=rng.choice(CITIES))
    return text, text, answer.format(label)


def _extractive_qa(language: str, rng: random.Random) -> tuple[str, str, str]:
    context, question = QA[language]
    a, b = rng.sample(PEOPLE, 2)
    x, y = rng.sample(CITIES, 2)
    asked, answer = rng.choice([(a, x), (b, y)])
    text = context.format(a=a, b=b, x=x, y=y) + "\n" + question.format(q=asked)
    return text, text, answer


def _count_words(language: str, rng: random.Random) -> tuple[str, str, str]:
    words = _words(rng, language, 2, 7)
    return " ".join(words), " ".join(words), str(len(words))


def _uppercase(language: str, rng: random.Random) -> tuple[str, str, str]:
    words = _words(rng, language, 1, 3)
    return " ".join(words), " ".join(words), " ".join(words).upper()


def _reverse_words(language: str, rng: random.Random) -> tuple[str, str, str]:
    words = _words(rng, language, 2, 4)
    return " ".join(words), " ".join(words), " ".join(reversed(words))


def _sort_numbers(language: str, rng: random.Random) -> tuple[str, str, str]:
    numbers = rng.sample(range(1, 100), rng.randint(3, 5))
    text = ", ".join(map(str, numbers))
    return text, text, ", ".join(map(str, sorted(numbers)))


def _translate_word(language: str, rng: random.Random) -> tuple[str, str, str]:
    row = rng.choice(VOCABULARY)
    source = "fr" if language == "en" else "en"
    return row[0], row[LANGUAGES.index(source)], row[LANGUAGES.index(language)]


def _words(rng, language, low, high):
    column = LANGUAGES.index(language)
    return [row[column] for row in rng.sample(VOCABULARY, rng.randint(low, high))]


@dataclass(frozen=True)
class Family:
    cluster: str
    source: str  # tasks from one source share its material
    metric: str
    make: Callable[[str, random.Random], tuple[str, str, str]]  # (language, rng) -> (key, input text, answer)


FAMILIES = {
    "sentiment": Family("classification", "builtin:reviews", "exact_match", _sentiment),
    "topic": Family("classification", "builtin:topics", "exact_match", _topic),
    "intent": Family("classification", "builtin:utterances", "exact_match", _intent),
    "extractive_qa": Family("extraction", "builtin:people", "exact_match", _extractive_qa),
    "count_words": Family("counting", "builtin:vocabulary", "exact_match", _count_words),
    "uppercase": Family("transformation", "builtin:vocabulary", "rougeL", _uppercase),
    "reverse_words": Family("transformation", "builtin:word-order", "rougeL", _reverse_words),
    "sort_numbers": Family("sorting", "builtin:numbers", "rougeL", _sort_numbers),
    "translate_word": Family("translation", "builtin:vocabulary", "exact_match", _translate_word),
}
# en, fr, de, es
VOCABULARY = [
    ("cat", "chat", "Katze", "gato"),
    ("dog", "chien", "Hund", "perro"),
    ("house", "maison", "Haus", "casa"),
    ("water", "eau", "Wasser", "agua"),
    ("bread", "pain", "Brot", "pan"),
    ("book", "livre", "Buch", "libro"),
    ("sun", "soleil", "Sonne", "sol"),
    ("tree", "arbre", "Baum", "árbol"),
    ("car", "voiture", "Auto", "coche"),
    ("friend", "ami", "Freund", "amigo"),
    ("apple", "pomme", "Apfel", "manzana"),
    ("school", "école", "Schule", "escuela"),
    ("city", "ville", "Stadt", "ciudad"),
    ("moon", "lune", "Mond", "luna"),
    ("fish", "poisson", "Fisch", "pez"),
    ("milk", "lait", "Milch", "leche"),
    ("flower", "fleur", "Blume", "flor"),
    ("door", "porte", "Tür", "puerta"),
    ("bird", "oiseau", "Vogel", "pájaro"),
    ("rain", "pluie", "Regen", "lluvia"),
]
LANGUAGE_NAMES = {  # the target language named in each instruction language
    "en": "English",
    "fr": "français",
    "de": "Deutsche",
    "es": "español",
}

INSTRUCTIONS = {
    "sentiment": {
        "en": [
            "What is the sentiment of this review?",
            "Classify the sentiment of the text.",
            "Is this review positive or negative?",
        ],
        "fr": ["Quel est le sentiment de cet avis ?", "Classe le sentiment du texte."],
        "de": ["Welche Stimmung hat diese Bewertung?", "Bestimme die Stimmung des Textes."],
        "es": ["¿Cuál es el sentimiento de esta reseña?", "Clasifica el sentimiento del texto."],
    },
    "topic": {
        "en": ["What is the topic of this sentence?", "Name the topic of the text."],
        "fr": ["Quel est le sujet de cette phrase ?", "Donne le sujet du texte."],
        "de": ["Was ist das Thema dieses Satzes?", "Nenne das Thema des Textes."],
        "es": ["¿Cuál es el tema de esta frase?", "Indica el tema del texto."],
    },
    "intent": {
        "en": ["What does the user want?", "Classify the intent of this request."],
        "fr": ["Que veut l'utilisateur ?", "Classe l'intention de cette demande."],
        "de": ["Was möchte der Nutzer?", "Bestimme die Absicht dieser Anfrage."],
        "es": ["¿Qué quiere el usuario?", "Clasifica la intención de esta petición."],
    },
    "extractive_qa": {
        "en": ["Answer the question using the context.", "Read the text and answer."],
        "fr": ["Réponds à la question à l'aide du contexte.", "Lis le texte et réponds."],
        "de": ["Beantworte die Frage mit dem Kontext.", "Lies den Text und antworte."],
        "es": ["Responde a la pregunta usando el contexto.", "Lee el texto y responde."],
    },
    "count_words": {
        "en": ["How many words are in this sentence?", "Count the words."],
        "fr": ["Combien de mots contient cette phrase ?", "Compte les mots."],
        "de": ["Wie viele Wörter hat dieser Satz?", "Zähle die Wörter."],
        "es": ["¿Cuántas palabras tiene esta frase?", "Cuenta las palabras."],
    },
    "uppercase": {
        "en": ["Write these words in capital letters.", "Convert the text to uppercase."],
        "fr": ["Écris ces mots en majuscules.", "Mets le texte en majuscules."],
        "de": ["Schreibe diese Wörter in Großbuchstaben.", "Wandle den Text in Großbuchstaben um."],
        "es": ["Escribe estas palabras en mayúsculas.", "Convierte el texto a mayúsculas."],
    },
    "reverse_words": {
        "en": ["Reverse the order of the words.", "Write the words backwards, last word first."],
        "fr": ["Inverse l'ordre des mots.", "Écris les mots à l'envers, le dernier en premier."],
        "de": ["Kehre die Reihenfolge der Wörter um.", "Schreibe die Wörter rückwärts, das letzte zuerst."],
        "es": ["Invierte el orden de las palabras.", "Escribe las palabras al revés, la última primero."],
    },
    "sort_numbers": {
        "en": ["Sort these numbers from smallest to largest.", "Put the numbers in ascending order."],
        "fr": ["Trie ces nombres du plus petit au plus grand.", "Range les nombres par ordre croissant."],
        "de": ["Sortiere diese Zahlen von klein nach groß.", "Ordne die Zahlen aufsteigend."],
        "es": ["Ordena estos números de menor a mayor.", "Pon los números en orden ascendente."],
    },
    "translate_word": {
        "en": ["Translate into {target}:", "Give the {target} word for:"],
        "fr": ["Traduis en {target} :", "Donne le mot en {target} pour :"],
        "de": ["Übersetze ins {target}:", "Wie heißt auf {target}:"],
        "es": ["Traduce al {target}:", "Da la palabra en {target} para:"],
    },
}

SENTIMENT = {  # subjects, verb, positive, negative, answer template
    "en": (
        ["The film", "The food", "The hotel", "The service", "The book"],
        "was",
        ["wonderful", "excellent", "great", "lovely"],
        ["terrible", "awful", "boring", "bad"],
        "this is a {} sentiment",
        {"positive": "positive", "negative": "negative"},
    ),
    "fr": (
        ["Le film", "Le repas", "L'hôtel", "Le service", "Le livre"],
        "était",
        ["merveilleux", "excellent", "génial", "superbe"],
        ["horrible", "affreux", "ennuyeux", "mauvais"],
        "c'est un sentiment {}",
        {"positive": "positif", "negative": "négatif"},
    ),
    "de": (
        ["Der Film", "Das Essen", "Das Hotel", "Der Service", "Das Buch"],
        "war",
        ["wunderbar", "ausgezeichnet", "toll", "herrlich"],
        ["schrecklich", "furchtbar", "langweilig", "schlecht"],
        "das ist eine {} Stimmung",
        {"positive": "positive", "negative": "negative"},
    ),
    "es": (
        ["La película", "La comida", "El hotel", "El servicio", "El libro"],
        "fue",
        ["maravilloso", "excelente", "genial", "estupendo"],
        ["horrible", "terrible", "aburrido", "malo"],
        "este es un sentimiento {}",
        {"positive": "positivo", "negative": "negativo"},
    ),
}
TOPICS = {  # topic -> (answer word, sentences) per language
    "en": (
        "the topic is {}",
        {
            "sports": ("sports", ["The team won the match.", "She runs every morning."]),
            "food": ("food", ["The soup is hot.", "We baked fresh bread."]),
            "weather": ("weather", ["It will rain tomorrow.", "The sky is sunny."]),
            "music": ("music", ["He plays the guitar.", "The concert was loud."]),
        },
    ),
    "fr": (
        "le sujet est {}",
        {
            "sports": ("le sport", ["L'équipe a gagné le match.", "Elle court chaque matin."]),
            "food": ("la cuisine", ["La soupe est chaude.", "Nous avons cuit du pain."]),
            "weather": ("la météo", ["Il pleuvra demain.", "Le ciel est ensoleillé."]),
            "music": ("la musique", ["Il joue de la guitare.", "Le concert était fort."]),
        },
    ),
    "de": (
        "das Thema ist {}",
        {
            "sports": ("Sport", ["Die Mannschaft hat gewonnen.", "Sie läuft jeden Morgen."]),
            "food": ("Essen", ["Die Suppe ist heiß.", "Wir haben Brot gebacken."]),
            "weather": ("Wetter", ["Morgen wird es regnen.", "Der Himmel ist sonnig."]),
            "music": ("Musik", ["Er spielt Gitarre.", "Das Konzert war laut."]),
        },
    ),
    "es": (
        "el tema es {}",
        {
            "sports": ("el deporte", ["El equipo ganó el partido.", "Ella corre cada mañana."]),
            "food": ("la comida", ["La sopa está caliente.", "Hicimos pan fresco."]),
            "weather": ("el tiempo", ["Mañana lloverá.", "El cielo está soleado."]),
            "music": ("la música", ["Él toca la guitarra.", "El concierto fue ruidoso."]),
        },
    ),
}
INTENTS = {  # intent -> (label, utterance template with {x})
    "en": (
        "the intent is {}",
        {
            "booking": ("booking", "Book a table for {n} people."),
            "weather": ("weather", "Will it rain in {c} tomorrow?"),
            "alarm": ("alarm", "Wake me up at {n} o'clock."),
            "music": ("music", "Play a song about {c}."),
        },
    ),
    "fr": (
        "l'intention est {}",
        {
            "booking": ("réservation", "Réserve une table pour {n} personnes."),
            "weather": ("météo", "Va-t-il pleuvoir à {c} demain ?"),
            "alarm": ("réveil", "Réveille-moi à {n} heures."),
            "music": ("musique", "Joue une chanson sur {c}."),
        },
    ),
    "de": (
        "die Absicht ist {}",
        {
            "booking": ("Reservierung", "Reserviere einen Tisch für {n} Personen."),
            "weather": ("Wetter", "Regnet es morgen in {c}?"),
            "alarm": ("Wecker", "Weck mich um {n} Uhr."),
            "music": ("Musik", "Spiel ein Lied über {c}."),
        },
    ),
    "es": (
        "la intención es {}",
        {
            "booking": ("reserva", "Reserva una mesa para {n} personas."),
            "weather": ("tiempo", "¿Lloverá en {c} mañana?"),
            "alarm": ("alarma", "Despiértame a las {n}."),
            "music": ("música", "Pon una canción sobre {c}."),
        },
    ),
}
CITIES = ["Berlin", "Rome", "Paris", "Madrid", "Oslo", "Lima", "Tokyo", "Cairo"]
PEOPLE = ["Anna", "Tom", "Li", "Omar", "Sara", "Ivan", "Nora", "Paul"]
QA = {
    "en": ("{a} lives in {x}. {b} lives in {y}.", "Where does {q} live?"),
    "fr": ("{a} habite à {x}. {b} habite à {y}.", "Où habite {q} ?"),
    "de": ("{a} wohnt in {x}. {b} wohnt in {y}.", "Wo wohnt {q}?"),
    "es": ("{a} vive en {x}. {b} vive en {y}.", "¿Dónde vive {q}?"),
}


def _example(rng: random.Random, families: list[str], languages: list[str]):
    family, language = rng.choice(families), rng.choice(languages)
    key, text, answer = FAMILIES[family].make(language, rng)
    instruction = rng.choice(INSTRUCTIONS[family][language]).format(target=LANGUAGE_NAMES[language])
    row = {
        "prompt": [{"role": "user", "content": f"{instruction}\n{text}", "tool_calls": None}],
        "completion": [{"role": "assistant", "content": answer, "tool_calls": None}],
        "tools": None,
        "meta": {
            "task": family,
            "language": language,
            "cluster": FAMILIES[family].cluster,
            "metric": FAMILIES[family].metric,
        },
    }
    return f"{family}:{language}:{key}", row


def generate(
    split: str, n: int, seed: int = 0, families: list[str] | None = None, languages: list[str] | None = None
) -> list[dict]:
    families = families or sorted(FAMILIES)
    languages = languages or list(LANGUAGES)
    unknown = sorted(set(families) - set(FAMILIES)) + sorted(set(languages) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unknown instruct families or languages: {unknown}")
    # Families are drawn one at a time so each gets an equal share (a small family may give fewer rows).
    rows = []
    for index, family in enumerate(families):
        share = n // len(families) + (index < n % len(families))
        rows += draw(
            functools.partial(_example, families=[family], languages=languages),
            split,
            share,
            seed,
            namespace="instruct",
        )
    for index, row in enumerate(rows):
        row["id"] = f"instruct-{split}-{index:06d}"
    return rows
