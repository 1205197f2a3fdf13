"""Regenerates the NER fixture (run from the repository root): hand-written templates and names,
fixed seeds. train.jsonl: 200 sentences; eval.conll: 60 sentences with unseen names, 6 long."""
import json, random
PER = ["John Smith", "Maria Garcia", "Angela Merkel", "Barack Obama", "Peter", "Anna Schmidt",
       "David Miller", "Sarah Johnson", "Li Wei", "Ahmed Hassan", "Emma Watson", "Carlos Ruiz",
       "Yuki Tanaka", "Olga Petrova", "James", "Laura Bianchi"]
ORG = ["Google", "the United Nations", "Microsoft", "Siemens", "the European Union", "Reuters",
       "Toyota", "the World Bank", "Apple", "Nestle", "Deutsche Bank", "the Red Cross", "BBC", "Airbus"]
LOC = ["Paris", "Berlin", "New York", "Tokyo", "Germany", "Brazil", "London", "Cairo", "South Africa",
       "Madrid", "Lake Geneva", "Moscow", "Canada", "Hong Kong"]
TEMPLATES = [
    "{PER} works for {ORG} in {LOC} .",
    "{PER} visited {LOC} last week .",
    "{ORG} opened a new office in {LOC} on Monday .",
    "In {LOC} , {PER} met officials from {ORG} .",
    "The spokesman for {ORG} said {PER} would travel to {LOC} .",
    "{PER} and {PER} signed the agreement .",
    "Shares of {ORG} fell sharply after the report .",
    "It rained all day and the match was cancelled .",
    "{LOC} beat {LOC} 2-1 in the final .",
    "According to {ORG} , prices rose by 3 percent in {LOC} .",
    "{PER} told reporters that the talks with {ORG} went well .",
    "Nobody expected the decision to come so soon .",
    "{PER} was born in {LOC} and later joined {ORG} .",
    "Officials in {LOC} confirmed the news on Tuesday .",
]
def tags_for(text, kind):
    words = text.split()
    if words[0] == "the":
        return words, ["O"] + [("B-" if i == 0 else "I-") + kind for i in range(len(words) - 1)]
    return words, [("B-" if i == 0 else "I-") + kind for i in range(len(words))]
def sentence(rng, template):
    tokens, tags = [], []
    for part in template.split():
        if part in ("{PER}", "{ORG}", "{LOC}"):
            kind = part[1:4]
            words, t = tags_for(rng.choice({"PER": PER, "ORG": ORG, "LOC": LOC}[kind]), kind)
            tokens += words; tags += t
        else:
            tokens.append(part); tags.append("O")
    return tokens, tags
rng = random.Random(7)
train = [sentence(rng, rng.choice(TEMPLATES)) for _ in range(200)]
rng = random.Random(8)
evals = [sentence(rng, rng.choice(TEMPLATES)) for _ in range(60)]
with open("tests/data/ner/train.jsonl", "w") as f:
    for tokens, tags in train:
        f.write(json.dumps({"tokens": tokens, "tags": tags}) + "\n")
with open("tests/data/ner/eval.conll", "w") as f:
    f.write("-DOCSTART- -X- -X- O\n\n")
    for tokens, tags in evals:
        for t, g in zip(tokens, tags):
            f.write(f"{t} {g}\n")
        f.write("\n")

# Eval: unseen names and two unseen templates, plus long sentences (several joined) that need
# several serving windows at a small max_seq_length.
PER = ["Rodrigo Alvarez", "Helen Clark", "Tom", "Ingrid Larsen", "Kofi Mensah", "Priya Sharma"]
ORG = ["Samsung", "the Bundesbank", "Oxfam", "Nokia", "the Federal Reserve"]
LOC = ["Lisbon", "Kenya", "Chicago", "Norway", "Buenos Aires", "Sydney"]
TEMPLATES += ["{PER} left {ORG} to return to {LOC} .", "Reports from {LOC} say {ORG} will cut jobs ."]
rng = random.Random(9)
evals = [sentence(rng, rng.choice(TEMPLATES)) for _ in range(54)]
for _ in range(6):
    tokens, tags = [], []
    for _ in range(5):
        t, g = sentence(rng, rng.choice(TEMPLATES))
        tokens += t; tags += g
    evals.append((tokens, tags))
with open("tests/data/ner/eval.conll", "w") as f:
    f.write("-DOCSTART- -X- -X- O\n\n")
    for tokens, tags in evals:
        for t, g in zip(tokens, tags):
            f.write(f"{t} NN O {g}\n")
        f.write("\n")
