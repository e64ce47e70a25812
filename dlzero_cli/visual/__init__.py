"""The book made visible: what chapters 4 and 5 teach, drawn for a learner's network.

sources.py    CONFIG or RUN -> a model (fresh or trained) and a few samples of its data
graphs.py     computational graphs, typed: a network's layers or an expression's
              operations, forward shapes/values and backward gradients on the edges
render.py     a graph as mermaid, Graphviz DOT or plain text
gradcheck.py  `dlzero gradcheck`: backprop against central differences per parameter
"""
