"""Knowledge tables for the bundled demo datasets (used by scripts/make_demo_data.py).

Every fact here is simple and correct. Each builder turns a table into `QA` items: one item
per fact ("instance"), carrying several question phrasings, the fact as a full sentence (used
by the friendly style), the bare answer (used by the curt style) and follow-up phrasings for
multi-turn chats ("What about Spain?"), which are only used right after an item of the same
`topic`.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class QA:
    key: str                 # instance id, unique across topics: "capital:France"
    topic: str               # follow-ups are only asked after a QA of the same topic
    questions: tuple         # 3-6 phrasings of the question
    fact: str                # the answer as a full sentence
    short: str               # the bare answer, no final punctuation
    follow: tuple = field(default=())  # follow-up phrasings ("What about Spain?")


# ---------------------------------------------------------------- English tables
CAPITALS = [
    ("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Germany", "Berlin"),
    ("Japan", "Tokyo"), ("China", "Beijing"), ("Egypt", "Cairo"), ("Canada", "Ottawa"),
    ("Russia", "Moscow"), ("India", "New Delhi"), ("Greece", "Athens"), ("Portugal", "Lisbon"),
    ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
    ("Poland", "Warsaw"), ("Austria", "Vienna"), ("Peru", "Lima"), ("Chile", "Santiago"),
    ("Kenya", "Nairobi"), ("Mexico", "Mexico City"), ("Argentina", "Buenos Aires"),
    ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("South Korea", "Seoul"), ("Cuba", "Havana"),
    ("Denmark", "Copenhagen"), ("Belgium", "Brussels"), ("Hungary", "Budapest"),
    ("Turkey", "Ankara"), ("Australia", "Canberra"),
]
SOUNDS = [  # (animal, the sound it makes)
    ("dog", "woof"), ("cat", "meow"), ("cow", "moo"), ("sheep", "baa"), ("duck", "quack"),
    ("pig", "oink"), ("horse", "neigh"), ("owl", "hoot"), ("frog", "croak"), ("bee", "buzz"),
    ("snake", "hiss"), ("mouse", "squeak"), ("rooster", "cock-a-doodle-doo"),
    ("donkey", "hee-haw"), ("lion", "roar"),
]
FOODS = [  # (animals, what they eat)
    ("pandas", "bamboo"), ("cows", "grass"), ("koalas", "eucalyptus leaves"), ("lions", "meat"),
    ("sheep", "grass"), ("horses", "grass and hay"), ("giraffes", "leaves"),
    ("squirrels", "nuts"), ("frogs", "insects"), ("monkeys", "fruit"), ("penguins", "fish"),
    ("tigers", "meat"), ("anteaters", "ants"), ("caterpillars", "leaves"), ("seals", "fish"),
    ("wolves", "meat"), ("rabbits", "grass"),
]
COLOURS = [  # (thing, its colour)
    ("the sky", "blue"), ("grass", "green"), ("snow", "white"), ("a ripe banana", "yellow"),
    ("a strawberry", "red"), ("coal", "black"), ("a carrot", "orange"), ("a lemon", "yellow"),
    ("a ripe tomato", "red"), ("milk", "white"), ("chocolate", "brown"), ("a cherry", "red"),
    ("a cucumber", "green"), ("a crow", "black"), ("a flamingo", "pink"), ("salt", "white"),
    ("a lime", "green"), ("an eggplant", "purple"), ("a zebra", "black and white"),
    ("a panda", "black and white"), ("blood", "red"), ("a pea", "green"),
]
OPPOSITES = [  # pairs with one clear opposite each way (no right/wrong, short/tall, ...)
    ("hot", "cold"), ("big", "small"), ("up", "down"), ("fast", "slow"), ("day", "night"),
    ("happy", "sad"), ("wet", "dry"), ("full", "empty"), ("early", "late"), ("loud", "quiet"),
    ("rich", "poor"), ("push", "pull"), ("top", "bottom"), ("strong", "weak"),
    ("open", "closed"), ("inside", "outside"), ("yes", "no"), ("clean", "dirty"),
    ("true", "false"), ("first", "last"), ("above", "below"), ("buy", "sell"),
    ("always", "never"),
]
PLURALS = [
    ("cat", "cats"), ("dog", "dogs"), ("child", "children"), ("mouse", "mice"),
    ("foot", "feet"), ("tooth", "teeth"), ("man", "men"), ("woman", "women"), ("box", "boxes"),
    ("baby", "babies"), ("goose", "geese"), ("person", "people"), ("leaf", "leaves"),
    ("knife", "knives"), ("wolf", "wolves"), ("bus", "buses"), ("city", "cities"),
    ("apple", "apples"), ("ox", "oxen"), ("glass", "glasses"), ("story", "stories"),
]
USES = [  # (object, what it is used for)
    ("a key", "opening locks"), ("a pen", "writing"), ("scissors", "cutting paper"),
    ("an umbrella", "staying dry in the rain"), ("a spoon", "eating soup"),
    ("a bed", "sleeping"), ("a clock", "telling the time"), ("a broom", "sweeping the floor"),
    ("a toothbrush", "brushing your teeth"), ("an oven", "baking food"),
    ("a fridge", "keeping food cold"), ("a phone", "calling people"),
    ("a hammer", "hitting nails"), ("a ladder", "climbing up high"), ("soap", "washing"),
    ("a towel", "drying yourself"), ("a map", "finding your way"), ("a camera", "taking photos"),
    ("a knife", "cutting food"), ("a shovel", "digging"), ("a comb", "combing your hair"),
    ("glue", "sticking things together"), ("a thermometer", "measuring temperature"),
]
COUNTS = [  # (questions, full sentence, bare answer)
    (("How many days are in a week?", "How many days does a week have?",
      "A week has how many days?"), "There are seven days in a week.", "Seven"),
    (("How many months are in a year?", "How many months does a year have?",
      "A year has how many months?"), "There are twelve months in a year.", "Twelve"),
    (("How many hours are in a day?", "How many hours does a day have?",
      "A day has how many hours?"), "There are 24 hours in a day.", "24"),
    (("How many minutes are in an hour?", "How many minutes does an hour have?",
      "An hour has how many minutes?"), "There are 60 minutes in an hour.", "60"),
    (("How many seconds are in a minute?", "How many seconds does a minute have?",
      "A minute has how many seconds?"), "There are 60 seconds in a minute.", "60"),
    (("How many legs does a spider have?", "How many legs has a spider got?",
      "A spider has how many legs?"), "A spider has eight legs.", "Eight"),
    (("How many legs does a dog have?", "How many legs has a dog got?",
      "A dog has how many legs?"), "A dog has four legs.", "Four"),
    (("How many legs does an insect have?", "How many legs has an insect got?",
      "An insect has how many legs?"), "An insect has six legs.", "Six"),
    (("How many legs does a bird have?", "How many legs has a bird got?",
      "A bird has how many legs?"), "A bird has two legs.", "Two"),
    (("How many sides does a triangle have?", "How many sides has a triangle got?",
      "A triangle has how many sides?"), "A triangle has three sides.", "Three"),
    (("How many sides does a square have?", "How many sides has a square got?",
      "A square has how many sides?"), "A square has four sides.", "Four"),
    (("How many wheels does a bicycle have?", "How many wheels has a bicycle got?",
      "A bicycle has how many wheels?"), "A bicycle has two wheels.", "Two"),
]
CHAT = [  # (key, phrasings, full sentence, bare answer)
    ("hello", ("Hello!", "Hi!", "Hi there!", "Hey!", "Good morning!"),
     "Hello! I am a small demo assistant. What would you like to know?", "Hi"),
    ("who", ("Who are you?", "What are you?", "Tell me about yourself.", "Introduce yourself.",
             "What is your name?"),
     "I am a small demo assistant that answers simple questions.", "I am a small demo assistant"),
    ("how", ("How are you?", "How are you today?", "How is it going?", "Are you doing well?"),
     "I am doing well, thank you for asking.", "Fine"),
    ("thanks", ("Thank you!", "Thanks!", "Thanks a lot!", "Thank you very much."),
     "You are very welcome.", "Sure"),
    ("can", ("What can you do?", "What do you know?", "How can you help me?",
             "What can I ask you?"),
     "I can answer simple questions about animals, colours, countries, words and numbers.",
     "Simple questions"),
    ("bye", ("Goodbye!", "Bye!", "See you later!", "Bye for now."),
     "Goodbye, and have a nice day.", "Bye"),
    ("help", ("Can you help me?", "Can you help me, please?", "Will you help me?",
              "I need some help."),
     "Yes, I can help you with simple questions.", "Yes"),
    ("human", ("Are you a human?", "Are you a person?", "Are you a real person?",
               "Are you human?"),
     "No, I am not a human. I am a small demo assistant.", "No"),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve"]


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _be(thing: str) -> str:
    """'is' for 'a key', 'snow'; 'are' for plural objects like 'scissors'."""
    return "are" if thing in ("scissors",) else "is"


def english_qa() -> list[QA]:
    """All English QA items, in a fixed order."""
    out: list[QA] = []
    for country, city in CAPITALS:
        out.append(QA(f"capital:{country}", "capital", (
            f"What is the capital of {country}?", f"What's the capital of {country}?",
            f"Which city is the capital of {country}?", f"Tell me the capital of {country}.",
            f"Name the capital city of {country}."),
            f"The capital of {country} is {city}.", city,
            (f"What about {country}?", f"And {country}?", f"And the capital of {country}?")))
    for animal, sound in SOUNDS:
        an = _a(animal)
        out.append(QA(f"sound:{animal}", "sound", (
            f"What sound does {an} make?", f"What noise does {an} make?",
            f"What does {an} say?", f"How does {an} sound?"),
            f"{_cap(an)} says {sound}.", _cap(sound),
            (f"What about {an}?", f"And {an}?", f"And what does {an} say?")))
    for animals, food in FOODS:
        out.append(QA(f"food:{animals}", "food", (
            f"What do {animals} eat?", f"What food do {animals} eat?",
            f"Tell me what {animals} eat.", f"What do {animals} like to eat?"),
            f"{_cap(animals)} eat {food}.", _cap(food),
            (f"What about {animals}?", f"And {animals}?", f"And what do {animals} eat?")))
    for thing, colour in COLOURS:
        out.append(QA(f"colour:{thing}", "colour", (
            f"What colour is {thing}?", f"What color is {thing}?",
            f"Tell me the colour of {thing}.", f"What is the colour of {thing}?"),
            f"{_cap(thing)} is {colour}.", _cap(colour),
            (f"What about {thing}?", f"And {thing}?", f"And what colour is {thing}?")))
    for a, b in OPPOSITES:
        for word, opp in ((a, b), (b, a)):
            out.append(QA(f"opposite:{word}", "opposite", (
                f"What is the opposite of {word}?", f"What's the opposite of {word}?",
                f"Give me the opposite of {word}.", f"What word means the opposite of {word}?",
                f"Opposite of {word}?"),
                f"The opposite of {word} is {opp}.", _cap(opp),
                (f"What about {word}?", f"And {word}?", f"And the opposite of {word}?")))
    for word, plural in PLURALS:
        out.append(QA(f"plural:{word}", "plural", (
            f"What is the plural of {word}?", f"What's the plural of {word}?",
            f"Plural of {word}?", f"What is the plural form of the word {word}?",
            f"How do you say more than one {word}?"),
            f"The plural of {word} is {plural}.", _cap(plural),
            (f"What about {word}?", f"And {word}?", f"And the plural of {word}?")))
    for thing, use in USES:
        out.append(QA(f"use:{thing}", "use", (
            f"What is {thing} used for?", f"What do people use {thing} for?",
            f"What is the use of {thing}?", f"Why do we need {thing}?"),
            f"{_cap(thing)} {_be(thing)} used for {use}.", _cap(use),
            (f"What about {thing}?", f"And {thing}?", f"And what is {thing} used for?")))
    for kind, names in (("day", DAYS), ("month", MONTHS)):
        for i, name in enumerate(names):
            nxt, prev = names[(i + 1) % len(names)], names[i - 1]
            out.append(QA(f"{kind}_after:{name}", f"{kind}_after", (
                f"What {kind} comes after {name}?", f"Which {kind} is after {name}?",
                f"What is the {kind} after {name}?", f"Which {kind} follows {name}?"),
                f"The {kind} after {name} is {nxt}.", nxt,
                (f"And after {name}?", f"What about after {name}?")))
            out.append(QA(f"{kind}_before:{name}", f"{kind}_before", (
                f"What {kind} comes before {name}?", f"Which {kind} is before {name}?",
                f"What is the {kind} before {name}?"),
                f"The {kind} before {name} is {prev}.", prev,
                (f"And before {name}?", f"What about before {name}?")))
    for questions, fact, short in COUNTS:
        out.append(QA(f"count:{questions[0]}", "count", questions, fact, short))
    out.extend(arithmetic_qa())
    for key, phrasings, fact, short in CHAT:
        out.append(QA(f"chat:{key}", "chat", phrasings, fact, short))
    return out


def arithmetic_qa() -> list[QA]:
    out: list[QA] = []
    for a in range(1, 11):
        for b in range(1, 11):
            out.append(QA(f"add:{a}+{b}", "add", (
                f"What is {a} + {b}?", f"What is {a} plus {b}?", f"How much is {a} + {b}?",
                f"Add {a} and {b}.", f"What do you get when you add {a} and {b}?"),
                f"{a} plus {b} is {a + b}.", str(a + b),
                (f"And {a} + {b}?", f"What about {a} plus {b}?")))
    for a in range(5, 16):
        for b in range(1, 6):
            out.append(QA(f"sub:{a}-{b}", "sub", (
                f"What is {a} - {b}?", f"What is {a} minus {b}?", f"How much is {a} - {b}?",
                f"Subtract {b} from {a}.", f"Take {b} away from {a}."),
                f"{a} minus {b} is {a - b}.", str(a - b),
                (f"And {a} - {b}?", f"What about {a} minus {b}?")))
    for a in range(2, 7):
        for b in range(2, 7):
            out.append(QA(f"mul:{a}*{b}", "mul", (
                f"What is {a} times {b}?", f"What is {a} x {b}?", f"How much is {a} times {b}?",
                f"Multiply {a} by {b}."),
                f"{a} times {b} is {a * b}.", str(a * b),
                (f"And {a} times {b}?", f"What about {a} x {b}?")))
    return out


# ---------------------------------------------------------------- Chinese tables
CAPITALS_ZH = [
    ("法国", "巴黎"), ("西班牙", "马德里"), ("意大利", "罗马"), ("德国", "柏林"), ("日本", "东京"),
    ("中国", "北京"), ("埃及", "开罗"), ("加拿大", "渥太华"), ("俄罗斯", "莫斯科"),
    ("印度", "新德里"), ("希腊", "雅典"), ("葡萄牙", "里斯本"), ("爱尔兰", "都柏林"),
    ("挪威", "奥斯陆"), ("瑞典", "斯德哥尔摩"), ("芬兰", "赫尔辛基"), ("波兰", "华沙"),
    ("奥地利", "维也纳"), ("秘鲁", "利马"), ("肯尼亚", "内罗毕"), ("泰国", "曼谷"),
    ("越南", "河内"), ("韩国", "首尔"), ("古巴", "哈瓦那"), ("丹麦", "哥本哈根"),
    ("比利时", "布鲁塞尔"), ("匈牙利", "布达佩斯"), ("土耳其", "安卡拉"), ("澳大利亚", "堪培拉"),
]
SOUNDS_ZH = [("小狗", "汪汪"), ("小猫", "喵喵"), ("牛", "哞哞"), ("鸭子", "嘎嘎"), ("羊", "咩咩"),
             ("青蛙", "呱呱"), ("小鸡", "叽叽"), ("老鼠", "吱吱"), ("公鸡", "喔喔喔")]
FOODS_ZH = [("熊猫", "竹子"), ("牛", "草"), ("羊", "草"), ("考拉", "桉树叶"), ("狮子", "肉"),
            ("松鼠", "坚果"), ("猴子", "水果"), ("青蛙", "虫子"), ("企鹅", "鱼"),
            ("长颈鹿", "树叶"), ("马", "草")]
COLOURS_ZH = [("天空", "蓝色"), ("草", "绿色"), ("雪", "白色"), ("熟香蕉", "黄色"), ("草莓", "红色"),
              ("煤", "黑色"), ("胡萝卜", "橙色"), ("牛奶", "白色"), ("柠檬", "黄色"),
              ("茄子", "紫色"), ("乌鸦", "黑色"), ("黄瓜", "绿色"), ("樱桃", "红色")]
OPPOSITES_ZH = [("大", "小"), ("开", "关"), ("快", "慢"), ("冷", "热"), ("多", "少"), ("长", "短"),
                ("上", "下"), ("左", "右"), ("黑", "白"), ("早", "晚"), ("新", "旧"), ("胖", "瘦"),
                ("远", "近"), ("前", "后"), ("里", "外"), ("真", "假"), ("买", "卖"), ("哭", "笑"),
                ("进", "出"), ("轻", "重"), ("对", "错")]
DAYS_ZH = ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]
COUNTS_ZH = [
    (("一周有几天？", "一个星期有几天？", "请问一周有多少天？"), "一周有七天。", "七天"),
    (("一年有几个月？", "一年有多少个月？", "请问一年有几个月？"), "一年有十二个月。", "十二个月"),
    (("一天有几个小时？", "一天有多少个小时？", "请问一天有几个小时？"), "一天有二十四个小时。", "二十四个小时"),
    (("一小时有多少分钟？", "一个小时有几分钟？", "请问一小时有多少分钟？"), "一小时有六十分钟。", "六十分钟"),
    (("一分钟有多少秒？", "一分钟有几秒？", "请问一分钟有多少秒？"), "一分钟有六十秒。", "六十秒"),
    (("蜘蛛有几条腿？", "蜘蛛有多少条腿？", "请问蜘蛛有几条腿？"), "蜘蛛有八条腿。", "八条"),
    (("小狗有几条腿？", "小狗有多少条腿？", "请问小狗有几条腿？"), "小狗有四条腿。", "四条"),
    (("三角形有几条边？", "三角形有多少条边？", "请问三角形有几条边？"), "三角形有三条边。", "三条"),
]
CHAT_ZH = [
    ("hello", ("你好！", "你好呀！", "嗨！", "早上好！"), "你好！我是一个小小的演示助手，有什么可以帮你的吗？", "你好"),
    ("who", ("你是谁？", "请介绍一下你自己。", "你叫什么名字？"), "我是一个小小的演示助手，可以回答简单的问题。", "演示助手"),
    ("thanks", ("谢谢！", "谢谢你！", "非常感谢！"), "不客气，很高兴能帮到你。", "不客气"),
    ("can", ("你能做什么？", "你会什么？", "我可以问你什么？"), "我可以回答关于动物、颜色、国家和数字的简单问题。", "回答简单问题"),
]


def chinese_qa() -> list[QA]:
    """All Chinese QA items, in a fixed order (no follow-ups: single-turn only)."""
    out: list[QA] = []
    for c, city in CAPITALS_ZH:
        out.append(QA(f"capital:{c}", "capital", (
            f"{c}的首都是哪里？", f"{c}的首都是什么？", f"请问{c}的首都是哪座城市？",
            f"告诉我{c}的首都。", f"{c}的首都叫什么？"), f"{c}的首都是{city}。", city))
    for a, s in SOUNDS_ZH:
        out.append(QA(f"sound:{a}", "sound", (
            f"{a}怎么叫？", f"{a}的叫声是什么？", f"{a}会发出什么声音？", f"请问{a}是怎么叫的？"),
            f"{a}会{s}地叫。", s))
    for a, f in FOODS_ZH:
        out.append(QA(f"food:{a}", "food", (
            f"{a}吃什么？", f"{a}喜欢吃什么？", f"{a}平时吃什么？", f"请问{a}吃什么食物？"),
            f"{a}吃{f}。", f))
    for t, c in COLOURS_ZH:
        out.append(QA(f"colour:{t}", "colour", (
            f"{t}是什么颜色的？", f"{t}是什么颜色？", f"请问{t}的颜色是什么？", f"告诉我{t}的颜色。"),
            f"{t}是{c}的。", c))
    for a, b in OPPOSITES_ZH:
        for w, o in ((a, b), (b, a)):
            out.append(QA(f"opposite:{w}", "opposite", (
                f"“{w}”的反义词是什么？", f"{w}的反义词是什么？", f"请说出“{w}”的反义词。",
                f"“{w}”的相反词是什么？"), f"“{w}”的反义词是“{o}”。", o))
    for i, d in enumerate(DAYS_ZH):
        nxt, prev = DAYS_ZH[(i + 1) % 7], DAYS_ZH[i - 1]
        out.append(QA(f"day_after:{d}", "day_after", (
            f"{d}的后一天是星期几？", f"{d}之后是星期几？", f"{d}的下一天是星期几？"),
            f"{d}的后一天是{nxt}。", nxt))
        out.append(QA(f"day_before:{d}", "day_before", (
            f"{d}的前一天是星期几？", f"{d}之前是星期几？", f"{d}的上一天是星期几？"),
            f"{d}的前一天是{prev}。", prev))
    for questions, fact, short in COUNTS_ZH:
        out.append(QA(f"count:{questions[0]}", "count", questions, fact, short))
    for a in range(1, 11):
        for b in range(1, 11):
            out.append(QA(f"add:{a}+{b}", "add", (
                f"{a}加{b}等于多少？", f"{a} + {b} 等于几？", f"请算一下{a}加{b}。", f"{a}加{b}是多少？"),
                f"{a}加{b}等于{a + b}。", str(a + b)))
    for a in range(5, 16):
        for b in range(1, 6):
            out.append(QA(f"sub:{a}-{b}", "sub", (
                f"{a}减{b}等于多少？", f"{a} - {b} 等于几？", f"请算一下{a}减{b}。"),
                f"{a}减{b}等于{a - b}。", str(a - b)))
    for a in range(2, 7):
        for b in range(2, 7):
            out.append(QA(f"mul:{a}*{b}", "mul", (
                f"{a}乘{b}等于多少？", f"{a} × {b} 等于几？", f"请算一下{a}乘{b}。"),
                f"{a}乘{b}等于{a * b}。", str(a * b)))
    for key, phrasings, fact, short in CHAT_ZH:
        out.append(QA(f"chat:{key}", "chat", phrasings, fact, short))
    return out
